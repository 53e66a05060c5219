namespace GitHubActionsPort.Broker.Admin;

/// <summary>One live lease, as <c>GET /admin/sessions</c> shows it.</summary>
internal sealed record LeaseSummary(
    string Id,
    string Issuer,
    string Subject,
    IReadOnlyDictionary<string, string> Claims,
    IReadOnlyList<string> Targets,
    DateTimeOffset GrantedAt,
    DateTimeOffset ExpiresAt,
    DateTimeOffset MaxExpiresAt,
    int OpenTunnels);
