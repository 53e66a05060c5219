using GitHubActionsPort.Broker.Auth;
using GitHubActionsPort.Broker.Store;
using GitHubActionsPort.Protocol.Tunnels;
using Lease = GitHubActionsPort.Broker.Leases.Lease;

namespace GitHubActionsPort.Broker.Audit;

/// <summary>
/// What the broker records, by event: the one place that decides each record's fields. Identity claims, lease and
/// tunnel ids, targets, peers, byte counts, durations and reasons; never a token.
/// </summary>
internal sealed class AuditTrail(AuditLog log, RefusalAggregator refusals)
{
    public Task SessionGrantedAsync(Lease lease, IReadOnlyList<string> rules) => log.WriteAsync(new("session.granted", new Dictionary<string, object?>
    {
        ["lease"] = lease.Id,
        ["identity"] = Identity(lease.Caller),
        ["targets"] = lease.Targets.Order(StringComparer.Ordinal).ToArray(),
        ["expires_at"] = lease.ExpiresAt,
        ["max_connections"] = lease.MaxConnections,
        ["rules"] = rules,
    }));

    public Task SessionDeniedAsync(CallerIdentity caller, IReadOnlyCollection<string> targets, string reason) => log.WriteAsync(new("session.denied", new Dictionary<string, object?>
    {
        ["identity"] = Identity(caller),
        ["targets"] = targets.ToArray(),
        ["reason"] = reason,
    }));

    /// <summary>
    /// An id-token refused before anyone was authenticated: counted, and written at most once per peer address and
    /// reason per interval (see <see cref="RefusalAggregator"/>). Never waits for the disk, never fails.
    /// </summary>
    public Task TokenRejectedAsync(string peer, string reason, string? claimed = null)
    {
        refusals.Record(peer, reason, claimed);
        return Task.CompletedTask;
    }

    public Task LeaseRenewedAsync(Lease lease) => log.WriteAsync(new("lease.renewed", new Dictionary<string, object?>
    {
        ["lease"] = lease.Id,
        ["expires_at"] = lease.ExpiresAt,
    }));

    /// <summary>A lease that ended: expired, closed by its agent, revoked (and by whom), or no longer permitted.</summary>
    public Task LeaseEndedAsync(Lease lease) => log.WriteAsync(new(lease.EndReason is null ? "lease.expired" : "lease.ended", new Dictionary<string, object?>
    {
        ["lease"] = lease.Id,
        ["reason"] = lease.EndReason ?? "expired",
    }));

    /// <summary>Written before the target is dialled: if it cannot be written, the tunnel is refused.</summary>
    public Task TunnelOpeningAsync(Lease lease, string tunnelId, string target, string peer, string lane) => log.WriteAsync(new("tunnel.opened", new Dictionary<string, object?>
    {
        ["tunnel"] = tunnelId,
        ["lease"] = lease.Id,
        ["identity"] = Identity(lease.Caller),
        ["target"] = target,
        ["peer"] = peer,
        ["lane"] = lane,
    }));

    public Task TunnelClosedAsync(string tunnelId, string target, SpliceResult? result, TimeSpan duration, string reason) => log.WriteAsync(new("tunnel.closed", new Dictionary<string, object?>
    {
        ["tunnel"] = tunnelId,
        ["target"] = target,
        ["bytes_to_target"] = result?.BytesToSocket ?? 0,
        ["bytes_from_target"] = result?.BytesFromSocket ?? 0,
        ["duration_ms"] = (long)duration.TotalMilliseconds,
        ["reason"] = reason,
    }));

    /// <summary>
    /// A tunnel another instance carried when it stopped sending heartbeats: recorded as ended by the instance that
    /// found it lost, since the lost one could not record its end itself.
    /// </summary>
    public Task TunnelLostAsync(TunnelRecord tunnel, string lostInstance) => log.WriteAsync(new("tunnel.closed", new Dictionary<string, object?>
    {
        ["tunnel"] = tunnel.Id,
        ["lease"] = tunnel.LeaseId,
        ["target"] = tunnel.Target,
        ["carried_by"] = lostInstance,
        ["opened_at"] = tunnel.OpenedAt,
        ["reason"] = "instance lost",
    }));

    public Task PolicyReloadedAsync(bool applied, string detail) => log.WriteAsync(new("policy.reloaded", new Dictionary<string, object?>
    {
        ["applied"] = applied,
        ["detail"] = detail,
    }));

    /// <summary>The job as its verified token described it: every string claim (the token itself is not among them).</summary>
    private static Dictionary<string, string> Identity(CallerIdentity caller) =>
        new(caller.Claims, StringComparer.Ordinal) { ["iss"] = caller.Issuer };
}
