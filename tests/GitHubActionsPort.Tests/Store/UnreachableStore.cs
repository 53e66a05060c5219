using GitHubActionsPort.Broker.Store;

namespace GitHubActionsPort.Tests.Store;

/// <summary>
/// A state store that can be cut off and healed: every call fails as an unreachable store's would while
/// <see cref="Reachable"/> is false. In-process tests only stand in for a store that went away this way; a real one
/// is stopped (<c>pg_ctl stop</c>) in the process tests.
/// </summary>
internal sealed class UnreachableStore(IBrokerStore inner) : IBrokerStore
{
    private volatile bool _reachable = true;
    private int _signingKeyReads;

    public bool Reachable
    {
        get => _reachable;
        set => _reachable = value;
    }

    public StoreKind Kind => inner.Kind;

    public int SchemaVersion => inner.SchemaVersion;

    public event Action? ChangesMayBeWaiting
    {
        add => inner.ChangesMayBeWaiting += value;
        remove => inner.ChangesMayBeWaiting -= value;
    }

    public string Describe() => "unreachable-on-demand " + inner.Describe();

    public Task OpenAsync(CancellationToken cancellationToken) => Call(() => inner.OpenAsync(cancellationToken));

    public Task InsertLeaseAsync(LeaseRecord lease, CancellationToken cancellationToken) => Call(() => inner.InsertLeaseAsync(lease, cancellationToken));

    public Task<LeaseRecord?> FindLeaseAsync(string leaseId, CancellationToken cancellationToken) => Call(() => inner.FindLeaseAsync(leaseId, cancellationToken));

    public Task<IReadOnlyList<LeaseRecord>> LiveLeasesAsync(DateTimeOffset now, CancellationToken cancellationToken) => Call(() => inner.LiveLeasesAsync(now, cancellationToken));

    public Task<bool> ExtendLeaseAsync(string leaseId, DateTimeOffset expiresAt, CancellationToken cancellationToken) => Call(() => inner.ExtendLeaseAsync(leaseId, expiresAt, cancellationToken));

    public Task<LeaseRecord?> EndLeaseAsync(string leaseId, LeaseEndRecord end, CancellationToken cancellationToken) => Call(() => inner.EndLeaseAsync(leaseId, end, cancellationToken));

    public Task<bool> TryUseIdTokenAsync(string issuer, string tokenId, DateTimeOffset rememberUntil, CancellationToken cancellationToken) =>
        Call(() => inner.TryUseIdTokenAsync(issuer, tokenId, rememberUntil, cancellationToken));

    public Task<bool> TryUseProofNonceAsync(string leaseId, string nonce, DateTimeOffset rememberUntil, CancellationToken cancellationToken) =>
        Call(() => inner.TryUseProofNonceAsync(leaseId, nonce, rememberUntil, cancellationToken));

    public Task<bool> TryOpenTunnelAsync(TunnelRecord tunnel, int maxConnections, CancellationToken cancellationToken) => Call(() => inner.TryOpenTunnelAsync(tunnel, maxConnections, cancellationToken));

    public Task CloseTunnelAsync(string tunnelId, CancellationToken cancellationToken) => Call(() => inner.CloseTunnelAsync(tunnelId, cancellationToken));

    public Task<IReadOnlyList<TunnelRecord>> OpenTunnelsAsync(CancellationToken cancellationToken) => Call(() => inner.OpenTunnelsAsync(cancellationToken));

    public Task AddBlockAsync(BlockRecord block, CancellationToken cancellationToken) => Call(() => inner.AddBlockAsync(block, cancellationToken));

    public Task<BlockRecord?> RemoveBlockAsync(string blockId, CancellationToken cancellationToken) => Call(() => inner.RemoveBlockAsync(blockId, cancellationToken));

    public Task<IReadOnlyList<BlockRecord>> BlocksAsync(CancellationToken cancellationToken) => Call(() => inner.BlocksAsync(cancellationToken));

    public Task PublishSigningKeyAsync(SigningKeyRecord key, CancellationToken cancellationToken) => Call(() => inner.PublishSigningKeyAsync(key, cancellationToken));

    /// <summary>Signing-key reads asked of this store so far, reachable or not.</summary>
    public int SigningKeyReads => Volatile.Read(ref _signingKeyReads);

    public Task<SigningKeyRecord?> FindSigningKeyAsync(string keyId, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _signingKeyReads);
        return Call(() => inner.FindSigningKeyAsync(keyId, cancellationToken));
    }

    public Task HeartbeatAsync(InstanceRecord instance, CancellationToken cancellationToken) => Call(() => inner.HeartbeatAsync(instance, cancellationToken));

    public Task SetInstanceStateAsync(string instanceId, InstanceState state, CancellationToken cancellationToken) => Call(() => inner.SetInstanceStateAsync(instanceId, state, cancellationToken));

    public Task<IReadOnlyList<InstanceRecord>> InstancesAsync(CancellationToken cancellationToken) => Call(() => inner.InstancesAsync(cancellationToken));

    public Task<IReadOnlyList<LostInstance>> ClaimLostInstancesAsync(DateTimeOffset heartbeatsBefore, CancellationToken cancellationToken) =>
        Call(() => inner.ClaimLostInstancesAsync(heartbeatsBefore, cancellationToken));

    public Task<IReadOnlyList<StoreChange>> ChangesSinceAsync(long after, int limit, CancellationToken cancellationToken) => Call(() => inner.ChangesSinceAsync(after, limit, cancellationToken));

    public Task<long> LatestChangeAsync(CancellationToken cancellationToken) => Call(() => inner.LatestChangeAsync(cancellationToken));

    public Task PruneAsync(DateTimeOffset now, DateTimeOffset changesBefore, CancellationToken cancellationToken) => Call(() => inner.PruneAsync(now, changesBefore, cancellationToken));

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private Task Call(Func<Task> call) => _reachable ? call() : Task.FromException(Unreachable());

    private Task<T> Call<T>(Func<Task<T>> call) => _reachable ? call() : Task.FromException<T>(Unreachable());

    private static StoreUnavailableException Unreachable() =>
        new("the broker's state store is unreachable", new System.Net.Sockets.SocketException((int)System.Net.Sockets.SocketError.ConnectionRefused));
}
