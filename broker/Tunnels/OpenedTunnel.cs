using GitHubActionsPort.Broker.Leases;
using GitHubActionsPort.Protocol.Tunnels;

namespace GitHubActionsPort.Broker.Tunnels;

/// <summary>
/// A tunnel the gate let through: its connected target, and what ends it (the agent's call or connection, the
/// lease, the broker stopping). Disposing it closes the target and gives back its place under the lease's and
/// the broker's caps.
/// </summary>
internal sealed class OpenedTunnel : IAsyncDisposable
{
    private readonly Action _release;

    public OpenedTunnel(string id, string targetName, Lease lease, TunnelSocket target, CancellationTokenSource ends, long started, Action release)
    {
        Id = id;
        TargetName = targetName;
        Lease = lease;
        Target = target;
        Ends = ends;
        Started = started;
        _release = release;
    }

    /// <summary>The lease id and the tunnel's number under it, as logs and the audit trail name it.</summary>
    public string Id { get; }

    public string TargetName { get; }

    public Lease Lease { get; }

    /// <summary>The connected target.</summary>
    public TunnelSocket Target { get; }

    /// <summary>Fires when the tunnel must end from the broker's side (or its caller went away).</summary>
    public CancellationTokenSource Ends { get; }

    /// <summary>When the tunnel was asked for (a <see cref="TimeProvider"/> timestamp).</summary>
    public long Started { get; }

    public async ValueTask DisposeAsync()
    {
        await Target.DisposeAsync().ConfigureAwait(false);
        Ends.Dispose();
        _release();
    }
}
