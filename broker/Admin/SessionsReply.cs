namespace GitHubActionsPort.Broker.Admin;

/// <summary>The reply of <c>GET /admin/sessions</c>: the live leases and the standing blocks, and the instances that share the store.</summary>
internal sealed record SessionsReply(IReadOnlyList<LeaseSummary> Leases, IReadOnlyList<BlockSummary> Blocks, IReadOnlyList<InstanceSummary>? Instances = null);
