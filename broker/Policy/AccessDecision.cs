namespace GitHubActionsPort.Broker.Policy;

/// <summary>What the policy allows one caller for a set of targets.</summary>
/// <param name="Allowed">Whether every requested target is allowed.</param>
/// <param name="Reason">When denied: which target and which identity, never the policy itself.</param>
/// <param name="Ttl">Length of the lease to grant.</param>
/// <param name="MaxConnections">Tunnels the lease may hold open at once.</param>
/// <param name="Rules">Names of the rules that granted it.</param>
public sealed record AccessDecision(bool Allowed, string? Reason, TimeSpan Ttl, int MaxConnections, IReadOnlyList<string> Rules)
{
    public static AccessDecision Deny(string reason) => new(false, reason, TimeSpan.Zero, 0, []);
}
