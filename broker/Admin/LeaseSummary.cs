namespace GitHubActionsPort.Broker.Admin;

/// <summary>
/// One live lease, as <c>GET /admin/sessions</c> shows it: <c>OpenTunnels</c> counts its tunnels on every instance;
/// <c>GrantedBy</c> is the instance that granted it (null when only the answering instance knows it), <c>Tunnels</c>
/// each open tunnel with the instance that carries it.
/// </summary>
internal sealed record LeaseSummary(
    string Id,
    string Issuer,
    string Subject,
    IReadOnlyDictionary<string, string> Claims,
    IReadOnlyList<string> Targets,
    DateTimeOffset GrantedAt,
    DateTimeOffset ExpiresAt,
    DateTimeOffset MaxExpiresAt,
    int OpenTunnels,
    string? GrantedBy = null,
    IReadOnlyList<TunnelSummary>? Tunnels = null);
