namespace GitHubActionsPort.Broker.Admin;

/// <summary>The reply of <c>POST /admin/revoke</c>: the leases ended, and the block placed, if one was asked for.</summary>
internal sealed record RevokeReply(IReadOnlyList<string> Revoked, BlockSummary? Block);
