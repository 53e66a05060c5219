using GitHubActionsPort.Broker.Auth;
using GitHubActionsPort.Broker.Store;
using Lease = GitHubActionsPort.Broker.Leases.Lease;

namespace GitHubActionsPort.Broker.Admin;

/// <summary>
/// A live lease as the admin endpoint acts on it: from the store (granted by any instance), with this instance's own
/// <see cref="Lease"/> when it holds it, so a revocation ends the tunnels here at once.
/// </summary>
/// <remarks><see cref="Stored"/> is false for a lease only this instance knows (the store did not show it).</remarks>
internal sealed record AdminLease(
    string Id,
    CallerIdentity Caller,
    IReadOnlyList<string> Targets,
    DateTimeOffset GrantedAt,
    DateTimeOffset ExpiresAt,
    DateTimeOffset MaxExpiresAt,
    string? GrantedBy,
    bool Stored,
    Lease? Local)
{
    public static AdminLease Of(LeaseRecord record, Lease? local)
    {
        ArgumentNullException.ThrowIfNull(record);
        var caller = new CallerIdentity(record.Issuer, record.Subject, record.TokenId, record.TokenExpiresAt, record.Claims, record.NonStringClaims.ToHashSet(StringComparer.Ordinal));
        return new AdminLease(record.Id, caller, record.Targets, record.GrantedAt, record.ExpiresAt, record.MaxExpiresAt, record.GrantedBy, Stored: true, local);
    }

    public static AdminLease Of(Lease local)
    {
        ArgumentNullException.ThrowIfNull(local);
        return new AdminLease(local.Id, local.Caller, local.Targets.ToList(), local.GrantedAt, local.ExpiresAt, local.MaxExpiresAt, null, Stored: false, local);
    }
}
