namespace GitHubActionsPort.Broker.Store;

/// <summary>
/// The store in this process's memory: the reference for what every store must do, for tests and the demo. Nothing
/// survives a restart, and only this process sees it. One lock: nothing here is slow.
/// </summary>
internal sealed class MemoryBrokerStore : IBrokerStore
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, LeaseRecord> _leases = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Issuer, string TokenId), DateTimeOffset> _idTokens = [];
    private readonly Dictionary<(string LeaseId, string Nonce), DateTimeOffset> _nonces = [];
    private readonly Dictionary<string, TunnelRecord> _tunnels = new(StringComparer.Ordinal);
    private readonly Dictionary<string, BlockRecord> _blocks = new(StringComparer.Ordinal);
    private readonly Dictionary<string, SigningKeyRecord> _keys = new(StringComparer.Ordinal);
    private readonly Dictionary<string, InstanceRecord> _instances = new(StringComparer.Ordinal);
    private readonly List<(StoreChange Change, DateTimeOffset At)> _changes = [];
    private readonly TimeProvider _time;
    private long _sequence;

    public MemoryBrokerStore(TimeProvider time) => _time = time;

    public StoreKind Kind => StoreKind.Memory;

    public int SchemaVersion => 0;

    public event Action? ChangesMayBeWaiting;

    public string Describe() => "memory (nothing survives a restart)";

    public Task OpenAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task InsertLeaseAsync(LeaseRecord lease, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lease);
        lock (_lock)
        {
            if (!_leases.TryAdd(lease.Id, lease))
            {
                throw new InvalidOperationException($"lease {lease.Id} is already recorded");
            }
        }

        return Task.CompletedTask;
    }

    public Task<LeaseRecord?> FindLeaseAsync(string leaseId, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult(_leases.GetValueOrDefault(leaseId));
        }
    }

    public Task<IReadOnlyList<LeaseRecord>> LiveLeasesAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult<IReadOnlyList<LeaseRecord>>(_leases.Values.Where(l => l.End is null && l.ExpiresAt > now).OrderBy(l => l.GrantedAt).ToList());
        }
    }

    public Task<bool> ExtendLeaseAsync(string leaseId, DateTimeOffset expiresAt, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (!_leases.TryGetValue(leaseId, out var lease) || lease.End is not null)
            {
                return Task.FromResult(false);
            }

            _leases[leaseId] = lease with { ExpiresAt = expiresAt };
            Publish(StoreChangeKind.Lease, leaseId);
        }

        Notify();
        return Task.FromResult(true);
    }

    public Task<LeaseRecord?> EndLeaseAsync(string leaseId, LeaseEndRecord end, CancellationToken cancellationToken)
    {
        LeaseRecord? stored;
        lock (_lock)
        {
            if (!_leases.TryGetValue(leaseId, out var lease))
            {
                return Task.FromResult<LeaseRecord?>(null);
            }

            if (lease.End is not null)
            {
                return Task.FromResult<LeaseRecord?>(lease);
            }

            stored = _leases[leaseId] = lease with { End = end };
            Publish(StoreChangeKind.Lease, leaseId);
        }

        Notify();
        return Task.FromResult<LeaseRecord?>(stored);
    }

    public Task<bool> TryUseIdTokenAsync(string issuer, string tokenId, DateTimeOffset rememberUntil, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult(_idTokens.TryAdd((issuer, tokenId), rememberUntil));
        }
    }

    public Task<bool> TryUseProofNonceAsync(string leaseId, string nonce, DateTimeOffset rememberUntil, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult(_nonces.TryAdd((leaseId, nonce), rememberUntil));
        }
    }

    public Task<bool> TryOpenTunnelAsync(TunnelRecord tunnel, int maxConnections, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(tunnel);
        lock (_lock)
        {
            if (!_leases.TryGetValue(tunnel.LeaseId, out var lease) || lease.End is not null
                || _tunnels.Values.Count(t => t.LeaseId == tunnel.LeaseId) >= maxConnections)
            {
                return Task.FromResult(false);
            }

            _tunnels.Add(tunnel.Id, tunnel);
            return Task.FromResult(true);
        }
    }

    public Task CloseTunnelAsync(string tunnelId, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            _tunnels.Remove(tunnelId);
        }

        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<TunnelRecord>> OpenTunnelsAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult<IReadOnlyList<TunnelRecord>>(_tunnels.Values.OrderBy(t => t.OpenedAt).ToList());
        }
    }

    public Task AddBlockAsync(BlockRecord block, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(block);
        lock (_lock)
        {
            _blocks.Add(block.Id, block);
            Publish(StoreChangeKind.Block, block.Id);
        }

        Notify();
        return Task.CompletedTask;
    }

    public Task<BlockRecord?> RemoveBlockAsync(string blockId, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (!_blocks.Remove(blockId, out var block))
            {
                return Task.FromResult<BlockRecord?>(null);
            }

            Publish(StoreChangeKind.Block, blockId);
            Notify();
            return Task.FromResult<BlockRecord?>(block);
        }
    }

    public Task<IReadOnlyList<BlockRecord>> BlocksAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult<IReadOnlyList<BlockRecord>>(_blocks.Values.OrderBy(b => b.CreatedAt).ToList());
        }
    }

    public Task PublishSigningKeyAsync(SigningKeyRecord key, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        lock (_lock)
        {
            _keys.TryAdd(key.KeyId, key);
        }

        return Task.CompletedTask;
    }

    public Task<SigningKeyRecord?> FindSigningKeyAsync(string keyId, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult(_keys.GetValueOrDefault(keyId));
        }
    }

    public Task HeartbeatAsync(InstanceRecord instance, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(instance);
        lock (_lock)
        {
            // A heartbeat never brings back an instance that was found lost or has gone.
            _instances[instance.Id] = _instances.TryGetValue(instance.Id, out var known)
                ? known with { HeartbeatAt = instance.HeartbeatAt, Address = instance.Address }
                : instance;
        }

        return Task.CompletedTask;
    }

    public Task SetInstanceStateAsync(string instanceId, InstanceState state, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (_instances.TryGetValue(instanceId, out var known))
            {
                _instances[instanceId] = known with { State = state };
                Publish(StoreChangeKind.Instance, instanceId);
            }
        }

        Notify();
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<InstanceRecord>> InstancesAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult<IReadOnlyList<InstanceRecord>>(_instances.Values.OrderByDescending(i => i.HeartbeatAt).ToList());
        }
    }

    public Task<IReadOnlyList<LostInstance>> ClaimLostInstancesAsync(DateTimeOffset heartbeatsBefore, CancellationToken cancellationToken)
    {
        var lost = new List<LostInstance>();
        lock (_lock)
        {
            foreach (var instance in _instances.Values.Where(i => i.State is InstanceState.Live or InstanceState.Draining && i.HeartbeatAt < heartbeatsBefore).ToList())
            {
                var tunnels = _tunnels.Values.Where(t => t.InstanceId == instance.Id).OrderBy(t => t.OpenedAt).ToList();
                foreach (var tunnel in tunnels)
                {
                    _tunnels.Remove(tunnel.Id);
                }

                var claimed = _instances[instance.Id] = instance with { State = InstanceState.Lost };
                Publish(StoreChangeKind.Instance, instance.Id);
                lost.Add(new LostInstance(claimed, tunnels));
            }
        }

        if (lost.Count > 0)
        {
            Notify();
        }

        return Task.FromResult<IReadOnlyList<LostInstance>>(lost);
    }

    public Task<IReadOnlyList<StoreChange>> ChangesSinceAsync(long after, int limit, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult<IReadOnlyList<StoreChange>>(_changes.Select(c => c.Change).Where(c => c.Sequence > after).Take(limit).ToList());
        }
    }

    public Task<long> LatestChangeAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult(_sequence);
        }
    }

    public Task PruneAsync(DateTimeOffset now, DateTimeOffset changesBefore, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            RemoveWhere(_leases, l => l.MaxExpiresAt < now);
            RemoveWhere(_tunnels, t => !_leases.ContainsKey(t.LeaseId));
            RemoveWhere(_idTokens, until => until < now);
            RemoveWhere(_nonces, until => until < now);
            _changes.RemoveAll(c => c.At < changesBefore);
        }

        return Task.CompletedTask;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static void RemoveWhere<TKey, TValue>(Dictionary<TKey, TValue> items, Func<TValue, bool> expired)
        where TKey : notnull
    {
        foreach (var (key, value) in items.Where(i => expired(i.Value)).ToList())
        {
            items.Remove(key);
        }
    }

    /// <summary>Appends a change; the caller holds the lock and notifies once it has let go of it.</summary>
    private void Publish(StoreChangeKind kind, string id) => _changes.Add((new StoreChange(++_sequence, kind, id), _time.GetUtcNow()));

    private void Notify() => ChangesMayBeWaiting?.Invoke();
}
