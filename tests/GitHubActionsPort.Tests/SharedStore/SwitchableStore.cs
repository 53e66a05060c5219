using GitHubActionsPort.Broker.Store;

namespace GitHubActionsPort.Tests.SharedStore;

/// <summary>
/// A real store that a test can make unreachable: while <see cref="Down"/> every call throws
/// <see cref="StoreUnavailableException"/>, as a store whose connection is lost does; while <see cref="BlocksDown"/>
/// only reading the blocks does. The state itself is the wrapped store's.
/// </summary>
internal sealed class SwitchableStore(IBrokerStore inner) : IBrokerStore
{
    public const string Cause = "connection refused (the test took the store down)";

    private volatile bool _down;
    private volatile bool _blocksDown;

    public bool Down
    {
        get => _down;
        set => _down = value;
    }

    public bool BlocksDown
    {
        get => _blocksDown;
        set => _blocksDown = value;
    }

    public StoreKind Kind => inner.Kind;

    public event Action? ChangesMayBeWaiting
    {
        add => inner.ChangesMayBeWaiting += value;
        remove => inner.ChangesMayBeWaiting -= value;
    }

    public string Describe() => "switchable " + inner.Describe();

    public Task OpenAsync(CancellationToken cancellationToken) => Up(() => inner.OpenAsync(cancellationToken));

    public Task InsertLeaseAsync(LeaseRecord lease, CancellationToken cancellationToken) => Up(() => inner.InsertLeaseAsync(lease, cancellationToken));

    public Task<LeaseRecord?> FindLeaseAsync(string leaseId, CancellationToken cancellationToken) => Up(() => inner.FindLeaseAsync(leaseId, cancellationToken));

    public Task<IReadOnlyList<LeaseRecord>> LiveLeasesAsync(DateTimeOffset now, CancellationToken cancellationToken) => Up(() => inner.LiveLeasesAsync(now, cancellationToken));

    public Task<bool> ExtendLeaseAsync(string leaseId, DateTimeOffset expiresAt, CancellationToken cancellationToken) => Up(() => inner.ExtendLeaseAsync(leaseId, expiresAt, cancellationToken));

    public Task<LeaseRecord?> EndLeaseAsync(string leaseId, LeaseEndRecord end, CancellationToken cancellationToken) => Up(() => inner.EndLeaseAsync(leaseId, end, cancellationToken));

    public Task<bool> TryUseIdTokenAsync(string issuer, string tokenId, DateTimeOffset rememberUntil, CancellationToken cancellationToken) =>
        Up(() => inner.TryUseIdTokenAsync(issuer, tokenId, rememberUntil, cancellationToken));

    public Task<bool> TryUseProofNonceAsync(string leaseId, string nonce, DateTimeOffset rememberUntil, CancellationToken cancellationToken) =>
        Up(() => inner.TryUseProofNonceAsync(leaseId, nonce, rememberUntil, cancellationToken));

    public Task<bool> TryOpenTunnelAsync(TunnelRecord tunnel, int maxConnections, CancellationToken cancellationToken) => Up(() => inner.TryOpenTunnelAsync(tunnel, maxConnections, cancellationToken));

    public Task CloseTunnelAsync(string tunnelId, CancellationToken cancellationToken) => Up(() => inner.CloseTunnelAsync(tunnelId, cancellationToken));

    public Task<IReadOnlyList<TunnelRecord>> OpenTunnelsAsync(CancellationToken cancellationToken) => Up(() => inner.OpenTunnelsAsync(cancellationToken));

    public Task AddBlockAsync(BlockRecord block, CancellationToken cancellationToken) => Up(() => inner.AddBlockAsync(block, cancellationToken));

    public Task<BlockRecord?> RemoveBlockAsync(string blockId, CancellationToken cancellationToken) => Up(() => inner.RemoveBlockAsync(blockId, cancellationToken));

    public Task<IReadOnlyList<BlockRecord>> BlocksAsync(CancellationToken cancellationToken) =>
        BlocksDown ? throw new StoreUnavailableException(Cause) : Up(() => inner.BlocksAsync(cancellationToken));

    public Task PublishSigningKeyAsync(SigningKeyRecord key, CancellationToken cancellationToken) => Up(() => inner.PublishSigningKeyAsync(key, cancellationToken));

    public Task<SigningKeyRecord?> FindSigningKeyAsync(string keyId, CancellationToken cancellationToken) => Up(() => inner.FindSigningKeyAsync(keyId, cancellationToken));

    public Task HeartbeatAsync(InstanceRecord instance, CancellationToken cancellationToken) => Up(() => inner.HeartbeatAsync(instance, cancellationToken));

    public Task SetInstanceStateAsync(string instanceId, InstanceState state, CancellationToken cancellationToken) => Up(() => inner.SetInstanceStateAsync(instanceId, state, cancellationToken));

    public Task<IReadOnlyList<InstanceRecord>> InstancesAsync(CancellationToken cancellationToken) => Up(() => inner.InstancesAsync(cancellationToken));

    public Task<IReadOnlyList<LostInstance>> ClaimLostInstancesAsync(DateTimeOffset heartbeatsBefore, CancellationToken cancellationToken) =>
        Up(() => inner.ClaimLostInstancesAsync(heartbeatsBefore, cancellationToken));

    public Task<IReadOnlyList<StoreChange>> ChangesSinceAsync(long after, int limit, CancellationToken cancellationToken) => Up(() => inner.ChangesSinceAsync(after, limit, cancellationToken));

    public Task<long> LatestChangeAsync(CancellationToken cancellationToken) => Up(() => inner.LatestChangeAsync(cancellationToken));

    public Task PruneAsync(DateTimeOffset now, DateTimeOffset changesBefore, CancellationToken cancellationToken) => Up(() => inner.PruneAsync(now, changesBefore, cancellationToken));

    public ValueTask DisposeAsync() => inner.DisposeAsync();

    private Task<T> Up<T>(Func<Task<T>> call) => Down ? throw new StoreUnavailableException(Cause) : call();

    private Task Up(Func<Task> call) => Down ? throw new StoreUnavailableException(Cause) : call();
}
