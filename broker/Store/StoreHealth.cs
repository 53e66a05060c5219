using GitHubActionsPort.Broker.Telemetry;

namespace GitHubActionsPort.Broker.Store;

/// <summary>
/// Whether this instance can reach its state store, judged by every store call it makes: down from the first call that
/// fails, up again at the first that succeeds. While down, new work that needs the store is refused by the store
/// calls themselves; open tunnels keep running until nothing has succeeded for <c>Broker:Store:MaxStaleness</c>, since
/// past that this instance cannot hear revocations: then <see cref="Stale"/> fires and they end.
/// </summary>
internal sealed class StoreHealth(StoreSettings settings, TimeProvider time, ILogger<StoreHealth> logger) : IDisposable
{
    private readonly Lock _lock = new();
    private long _lastContactTicks = time.GetUtcNow().UtcTicks;
    private volatile bool _down;
    private DateTimeOffset _downSince;
    private CancellationTokenSource _stale = new();
    private int _recovered;

    /// <summary>False from a failed store call until the next one succeeds.</summary>
    public bool IsReachable => !_down;

    /// <summary>When a store call last succeeded.</summary>
    public DateTimeOffset LastContact => new(Interlocked.Read(ref _lastContactTicks), TimeSpan.Zero);

    /// <summary>
    /// Fires when nothing has succeeded for <c>MaxStaleness</c>: every tunnel open here is linked to it. A new one
    /// takes its place once the store answers again.
    /// </summary>
    public CancellationToken Stale
    {
        get
        {
            lock (_lock)
            {
                return _stale.Token;
            }
        }
    }

    /// <summary>True while the instance is past <c>MaxStaleness</c> without the store: it ends its tunnels and opens none.</summary>
    public bool IsStale => Stale.IsCancellationRequested;

    /// <summary>Why tunnels end, and new ones are refused, while <see cref="IsStale"/>.</summary>
    public string StaleReason =>
        $"the broker has not reached its state store for {settings.MaxStaleness.TotalSeconds:0} s and can no longer hear revocations";

    /// <summary>A store call succeeded.</summary>
    public void Succeeded()
    {
        var now = time.GetUtcNow();
        Interlocked.Exchange(ref _lastContactTicks, now.UtcTicks);
        BrokerMetrics.StoreContact(now);
        if (!_down)
        {
            return;
        }

        lock (_lock)
        {
            if (!_down)
            {
                return;
            }

            _down = false;
            if (_stale.IsCancellationRequested)
            {
                // Tunnels opened from now on end only at the next outage.
                _stale.Dispose();
                _stale = new CancellationTokenSource();
            }

            Interlocked.Exchange(ref _recovered, 1);
        }

        BrokerMetrics.StoreUp(true);
        StoreHealthLog.Reachable(logger, (now - _downSince).TotalSeconds);
    }

    /// <summary>A store call failed to reach it.</summary>
    public void Failed(StoreUnavailableException unavailable)
    {
        BrokerMetrics.StoreError();
        if (_down)
        {
            return;
        }

        lock (_lock)
        {
            if (_down)
            {
                return;
            }

            _down = true;
            _downSince = time.GetUtcNow();
        }

        BrokerMetrics.StoreUp(false);
        // Once per outage: every refused call says so itself.
        StoreHealthLog.Unreachable(logger, StoreRefusal.Cause(unavailable), settings.MaxStaleness.TotalSeconds);
    }

    /// <summary>True once after the store came back: what was kept in memory must be read again (changes may be pruned).</summary>
    public bool TakeRecovered() => Interlocked.Exchange(ref _recovered, 0) == 1;

    /// <summary>Ends the open tunnels (through <see cref="Stale"/>) once nothing has succeeded for <c>MaxStaleness</c>.</summary>
    public void CheckStaleness()
    {
        if (!_down || time.GetUtcNow() - LastContact < settings.MaxStaleness)
        {
            return;
        }

        CancellationTokenSource ending;
        lock (_lock)
        {
            if (!_down || _stale.IsCancellationRequested)
            {
                return;
            }

            ending = _stale;
        }

        StoreHealthLog.Stale(logger, settings.MaxStaleness.TotalSeconds);
        ending.Cancel();
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _stale.Dispose();
        }
    }
}
