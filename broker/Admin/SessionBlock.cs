namespace GitHubActionsPort.Broker.Admin;

/// <summary>A standing block: sessions whose caller matches <see cref="Selector"/> are refused until it is lifted.</summary>
internal sealed record SessionBlock(string Id, ClaimSelector Selector, string Reason, string By, DateTimeOffset CreatedAt);
