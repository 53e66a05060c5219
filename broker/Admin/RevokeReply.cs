namespace GitHubActionsPort.Broker.Admin;

/// <summary>
/// The reply of <c>POST /admin/revoke</c>: the leases ended, the block placed if one was asked for, and the blocks
/// the revocation placed by itself on each revoked lease's run attempt (so the job cannot come straight back).
/// </summary>
internal sealed record RevokeReply(IReadOnlyList<string> Revoked, BlockSummary? Block, IReadOnlyList<BlockSummary>? AttemptBlocks = null);
