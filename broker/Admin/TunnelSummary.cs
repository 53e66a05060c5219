namespace GitHubActionsPort.Broker.Admin;

/// <summary>One open tunnel of a lease, and the instance that carries it, as <c>GET /admin/sessions</c> shows it.</summary>
internal sealed record TunnelSummary(string Id, string Target, string Instance, DateTimeOffset OpenedAt);
