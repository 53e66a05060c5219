namespace GitHubActionsPort.Broker.Store;

/// <summary>
/// The store every part of the broker is handed: the configured one, with each call's outcome told to
/// <see cref="StoreHealth"/>, so "when did the store last answer" covers every call, not just the watcher's.
/// </summary>
internal sealed class TrackedBrokerStore(IBrokerStore inner, bool ownsInner, StoreHealth health) : IBrokerStore
{
    private int _disposed;

    public StoreKind Kind => inner.Kind;

    public event Action? ChangesMayBeWaiting
    {
        add => inner.ChangesMayBeWaiting += value;
        remove => inner.ChangesMayBeWaiting -= value;
    }

    public string Describe() => inner.Describe();

    public int SchemaVersion => inner.SchemaVersion;

    public Task OpenAsync(CancellationToken cancellationToken) => Track(() => inner.OpenAsync(cancellationToken));

    public Task InsertLeaseAsync(LeaseRecord lease, CancellationToken cancellationToken) => Track(() => inner.InsertLeaseAsync(lease, cancellationToken));

    public Task<LeaseRecord?> FindLeaseAsync(string leaseId, CancellationToken cancellationToken) => Track(() => inner.FindLeaseAsync(leaseId, cancellationToken));

    public Task<IReadOnlyList<LeaseRecord>> LiveLeasesAsync(DateTimeOffset now, CancellationToken cancellationToken) => Track(() => inner.LiveLeasesAsync(now, cancellationToken));

    public Task<bool> ExtendLeaseAsync(string leaseId, DateTimeOffset expiresAt, CancellationToken cancellationToken) => Track(() => inner.ExtendLeaseAsync(leaseId, expiresAt, cancellationToken));

    public Task<LeaseRecord?> EndLeaseAsync(string leaseId, LeaseEndRecord end, CancellationToken cancellationToken) => Track(() => inner.EndLeaseAsync(leaseId, end, cancellationToken));

    public Task<bool> TryUseIdTokenAsync(string issuer, string tokenId, DateTimeOffset rememberUntil, CancellationToken cancellationToken) =>
        Track(() => inner.TryUseIdTokenAsync(issuer, tokenId, rememberUntil, cancellationToken));

    public Task<bool> TryUseProofNonceAsync(string leaseId, string nonce, DateTimeOffset rememberUntil, CancellationToken cancellationToken) =>
        Track(() => inner.TryUseProofNonceAsync(leaseId, nonce, rememberUntil, cancellationToken));

    public Task<bool> TryOpenTunnelAsync(TunnelRecord tunnel, int maxConnections, CancellationToken cancellationToken) => Track(() => inner.TryOpenTunnelAsync(tunnel, maxConnections, cancellationToken));

    public Task CloseTunnelAsync(string tunnelId, CancellationToken cancellationToken) => Track(() => inner.CloseTunnelAsync(tunnelId, cancellationToken));

    public Task<IReadOnlyList<TunnelRecord>> OpenTunnelsAsync(CancellationToken cancellationToken) => Track(() => inner.OpenTunnelsAsync(cancellationToken));

    public Task AddBlockAsync(BlockRecord block, CancellationToken cancellationToken) => Track(() => inner.AddBlockAsync(block, cancellationToken));

    public Task<BlockRecord?> RemoveBlockAsync(string blockId, CancellationToken cancellationToken) => Track(() => inner.RemoveBlockAsync(blockId, cancellationToken));

    public Task<IReadOnlyList<BlockRecord>> BlocksAsync(CancellationToken cancellationToken) => Track(() => inner.BlocksAsync(cancellationToken));

    public Task PublishSigningKeyAsync(SigningKeyRecord key, CancellationToken cancellationToken) => Track(() => inner.PublishSigningKeyAsync(key, cancellationToken));

    public Task<SigningKeyRecord?> FindSigningKeyAsync(string keyId, CancellationToken cancellationToken) => Track(() => inner.FindSigningKeyAsync(keyId, cancellationToken));

    public Task HeartbeatAsync(InstanceRecord instance, CancellationToken cancellationToken) => Track(() => inner.HeartbeatAsync(instance, cancellationToken));

    public Task SetInstanceStateAsync(string instanceId, InstanceState state, CancellationToken cancellationToken) => Track(() => inner.SetInstanceStateAsync(instanceId, state, cancellationToken));

    public Task<IReadOnlyList<InstanceRecord>> InstancesAsync(CancellationToken cancellationToken) => Track(() => inner.InstancesAsync(cancellationToken));

    public Task<IReadOnlyList<LostInstance>> ClaimLostInstancesAsync(DateTimeOffset heartbeatsBefore, CancellationToken cancellationToken) =>
        Track(() => inner.ClaimLostInstancesAsync(heartbeatsBefore, cancellationToken));

    public Task<IReadOnlyList<StoreChange>> ChangesSinceAsync(long after, int limit, CancellationToken cancellationToken) => Track(() => inner.ChangesSinceAsync(after, limit, cancellationToken));

    public Task<long> LatestChangeAsync(CancellationToken cancellationToken) => Track(() => inner.LatestChangeAsync(cancellationToken));

    public Task PruneAsync(DateTimeOffset now, DateTimeOffset changesBefore, CancellationToken cancellationToken) => Track(() => inner.PruneAsync(now, changesBefore, cancellationToken));

    /// <summary>Disposes the store it was built around only when it made it (a store given as an object, shared by test brokers, outlives each).</summary>
    public ValueTask DisposeAsync() =>
        ownsInner && Interlocked.Exchange(ref _disposed, 1) == 0 ? inner.DisposeAsync() : ValueTask.CompletedTask;

    private async Task Track(Func<Task> call)
    {
        try
        {
            await call().ConfigureAwait(false);
        }
        catch (StoreUnavailableException ex)
        {
            health.Failed(ex);
            throw;
        }

        health.Succeeded();
    }

    private async Task<T> Track<T>(Func<Task<T>> call)
    {
        T result;
        try
        {
            result = await call().ConfigureAwait(false);
        }
        catch (StoreUnavailableException ex)
        {
            health.Failed(ex);
            throw;
        }

        health.Succeeded();
        return result;
    }
}
