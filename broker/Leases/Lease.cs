using GitHubActionsPort.Broker.Auth;

namespace GitHubActionsPort.Broker.Leases;

/// <summary>
/// A grant of named targets to one caller until <see cref="ExpiresAt"/>. <see cref="Ended"/> fires at expiry or
/// revocation and ends every tunnel of the lease.
/// </summary>
internal sealed class Lease : IDisposable
{
    private readonly CancellationTokenSource _ending;
    private int _openTunnels;
    private long _tunnelsStarted;

    public Lease(string id, CallerIdentity caller, IReadOnlySet<string> targets, DateTimeOffset expiresAt, int maxConnections, TimeProvider time)
    {
        Id = id;
        Caller = caller;
        Targets = targets;
        ExpiresAt = expiresAt;
        MaxConnections = maxConnections;
        var ttl = expiresAt - time.GetUtcNow();
        _ending = new CancellationTokenSource(ttl > TimeSpan.Zero ? ttl : TimeSpan.Zero, time);
    }

    public string Id { get; }

    public CallerIdentity Caller { get; }

    public IReadOnlySet<string> Targets { get; }

    public DateTimeOffset ExpiresAt { get; }

    public int MaxConnections { get; }

    public int OpenTunnels => Volatile.Read(ref _openTunnels);

    public CancellationToken Ended => _ending.Token;

    public bool IsEnded => _ending.IsCancellationRequested;

    /// <summary>Claims one of the lease's connection slots; false when all are in use.</summary>
    public bool TryOpenTunnel()
    {
        while (true)
        {
            var open = Volatile.Read(ref _openTunnels);
            if (open >= MaxConnections)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _openTunnels, open + 1, open) == open)
            {
                return true;
            }
        }
    }

    public void CloseTunnel() => Interlocked.Decrement(ref _openTunnels);

    /// <summary>Numbers the lease's tunnels for logs: <c>lse_x/1</c>, <c>lse_x/2</c>, ...</summary>
    public long NextTunnelNumber() => Interlocked.Increment(ref _tunnelsStarted);

    /// <summary>Why the lease ended early (revoked, policy changed); null while live or when it simply expired.</summary>
    public string? EndReason { get; private set; }

    /// <summary>Ends the lease now: every tunnel of it is ended with <paramref name="reason"/>.</summary>
    public void End(string reason)
    {
        EndReason ??= reason;
        _ending.Cancel();
    }

    /// <summary>Only at shutdown: tunnels hold <see cref="Ended"/> until they finish.</summary>
    public void Dispose() => _ending.Dispose();
}
