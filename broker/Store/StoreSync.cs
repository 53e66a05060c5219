using GitHubActionsPort.Broker.Audit;
using GitHubActionsPort.Broker.Leases;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace GitHubActionsPort.Broker.Store;

/// <summary>
/// Keeps this instance in step with the state store: opens it at start (a store that cannot be opened stops start-up),
/// publishes the lease-signing key, then reads every change any instance publishes and hands it to each
/// <see cref="IStoreChangeListener"/> (on a notification, or every <c>PollInterval</c>), says it is alive every
/// <c>HeartbeatInterval</c>, records the tunnels of instances found lost, and prunes what can no longer matter. When the
/// store comes back after an outage the listeners reload everything, with no restart.
/// </summary>
internal sealed class StoreSync(
    IBrokerStore store,
    StoreSettings settings,
    StoreHealth health,
    BrokerInstance instance,
    LeaseSigningKey signingKey,
    IEnumerable<IStoreChangeListener> listeners,
    AuditTrail audit,
    IServiceProvider services,
    IHostApplicationLifetime lifetime,
    TimeProvider time,
    ILogger<StoreSync> logger) : IHostedService, IAsyncDisposable
{
    /// <summary>Changes read in one call: a burst (a block revoking many leases) is read in a few rounds.</summary>
    private const int ChangesPerRead = 500;

    /// <summary>How often what can no longer matter is deleted.</summary>
    private static readonly TimeSpan PruneInterval = TimeSpan.FromMinutes(1);

    /// <summary>
    /// How long published changes are kept: an instance that misses more than this (it was cut off) reloads
    /// everything when the store returns rather than reading them.
    /// </summary>
    private static readonly TimeSpan ChangesKept = TimeSpan.FromMinutes(15);

    private readonly IStoreChangeListener[] _listeners = listeners.ToArray();
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly CancellationTokenSource _stopping = new();
    private ITimer? _staleness;
    private Task _loop = Task.CompletedTask;
    private long _lastChange;
    private int _disposed;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        // Failures here stop start-up with the store's own words (BrokerCommand prints them and exits).
        await store.OpenAsync(cancellationToken).ConfigureAwait(false);
        StoreSyncLog.Opened(logger, store.Kind.ToString().ToLowerInvariant(), store.Describe(), instance.Id);
        if (store.Kind == StoreKind.Memory)
        {
            StoreSyncLog.MemoryKeepsNothing(logger);
        }

        await store.PublishSigningKeyAsync(new SigningKeyRecord(signingKey.KeyId, signingKey.PublicKey(), instance.Id, time.GetUtcNow()), cancellationToken).ConfigureAwait(false);
        await HeartbeatAsync(cancellationToken).ConfigureAwait(false);
        _lastChange = await store.LatestChangeAsync(cancellationToken).ConfigureAwait(false);
        foreach (var listener in _listeners)
        {
            await listener.ReloadAsync(cancellationToken).ConfigureAwait(false);
        }

        store.ChangesMayBeWaiting += Wake;
        // Its own timer, so a store call that hangs cannot keep tunnels running past MaxStaleness.
        var check = settings.MaxStaleness / 4 < settings.PollInterval ? settings.MaxStaleness / 4 : settings.PollInterval;
        _staleness = time.CreateTimer(_ => health.CheckStaleness(), null, check, check);
        lifetime.ApplicationStarted.Register(() => instance.Address = ListeningAddresses());
        _loop = Task.Run(() => RunAsync(_stopping.Token), CancellationToken.None);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        store.ChangesMayBeWaiting -= Wake;
        await _stopping.CancelAsync().ConfigureAwait(false);
        // Past the host's shutdown timeout, stop waiting but do not throw: the services stopped after this one
        // (the audit trail's flush among them) still get their turn.
        await _loop.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    /// <summary>Idempotent: the container disposes it as itself and as a hosted service.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        store.ChangesMayBeWaiting -= Wake;
        if (_staleness is not null)
        {
            await _staleness.DisposeAsync().ConfigureAwait(false);
        }

        _stopping.Cancel();
        _stopping.Dispose();
        _wake.Dispose();
    }

    private void Wake()
    {
        try
        {
            if (_wake.CurrentCount == 0)
            {
                _wake.Release();
            }
        }
        catch (Exception ex) when (ex is SemaphoreFullException or ObjectDisposedException)
        {
            // Already awake, or stopped.
        }
    }

    private async Task RunAsync(CancellationToken stopping)
    {
        var nextHeartbeat = time.GetUtcNow() + settings.HeartbeatInterval;
        var nextPrune = time.GetUtcNow() + PruneInterval;
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await _wake.WaitAsync(settings.PollInterval, stopping).ConfigureAwait(false);
                if (health.TakeRecovered())
                {
                    await ReloadAsync(stopping).ConfigureAwait(false);
                }

                await ReadChangesAsync(stopping).ConfigureAwait(false);
                var now = time.GetUtcNow();
                if (now >= nextHeartbeat)
                {
                    await HeartbeatAsync(stopping).ConfigureAwait(false);
                    await ClaimLostAsync(now, stopping).ConfigureAwait(false);
                    nextHeartbeat = now + settings.HeartbeatInterval;
                }

                if (now >= nextPrune)
                {
                    await store.PruneAsync(now, now - ChangesKept, stopping).ConfigureAwait(false);
                    nextPrune = now + PruneInterval;
                }
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (StoreUnavailableException)
            {
                // StoreHealth logged the outage once; the next round tries again.
            }
            catch (Exception ex)
            {
                StoreSyncLog.Failed(logger, ex);
            }
        }
    }

    /// <summary>After an outage: changes may have been pruned meanwhile, so everything held in memory is read again.</summary>
    private async Task ReloadAsync(CancellationToken cancellationToken)
    {
        var latest = await store.LatestChangeAsync(cancellationToken).ConfigureAwait(false);
        foreach (var listener in _listeners)
        {
            await listener.ReloadAsync(cancellationToken).ConfigureAwait(false);
        }

        // Changes after `latest` are read as usual; one read twice is harmless (listeners read current state).
        _lastChange = Math.Max(_lastChange, latest);
        StoreSyncLog.Reloaded(logger, _listeners.Length);
    }

    private async Task ReadChangesAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var changes = await store.ChangesSinceAsync(_lastChange, ChangesPerRead, cancellationToken).ConfigureAwait(false);
            foreach (var change in changes)
            {
                foreach (var listener in _listeners)
                {
                    await listener.OnChangeAsync(change, cancellationToken).ConfigureAwait(false);
                }

                _lastChange = change.Sequence;
            }

            if (changes.Count < ChangesPerRead)
            {
                return;
            }
        }
    }

    private Task HeartbeatAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        return store.HeartbeatAsync(new InstanceRecord(instance.Id, instance.Address, instance.StartedAt, now, InstanceState.Live), cancellationToken);
    }

    /// <summary>Records the tunnels of instances silent past <c>InstanceTimeout</c> as ended; the store has given their slots back.</summary>
    private async Task ClaimLostAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        foreach (var lost in await store.ClaimLostInstancesAsync(now - settings.InstanceTimeout, cancellationToken).ConfigureAwait(false))
        {
            StoreSyncLog.InstanceLost(logger, lost.Instance.Id, lost.Instance.HeartbeatAt, lost.Tunnels.Count);
            foreach (var tunnel in lost.Tunnels)
            {
                StoreSyncLog.TunnelLost(logger, tunnel.Id, tunnel.Target, lost.Instance.Id);
                try
                {
                    await audit.TunnelLostAsync(tunnel, lost.Instance.Id).ConfigureAwait(false);
                }
                catch (AuditWriteException ex)
                {
                    StoreSyncLog.LostNotAudited(logger, tunnel.Id, ex.Message);
                }
            }
        }
    }

    private string ListeningAddresses() =>
        services.GetService<IServer>()?.Features.Get<IServerAddressesFeature>() is { } feature ? string.Join(',', feature.Addresses) : string.Empty;
}
