namespace GitHubActionsPort.Broker.Admin;

/// <summary>
/// A standing block: sessions whose caller matches <see cref="Selector"/> are refused until it is lifted. A block a
/// revocation placed by itself names the lease it revoked (<see cref="RevokedLease"/>) and covers that lease's run
/// attempt only.
/// </summary>
internal sealed record SessionBlock(string Id, ClaimSelector Selector, string Reason, string By, DateTimeOffset CreatedAt, string? RevokedLease = null);
