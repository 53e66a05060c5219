using GitHubActionsPort.Broker.Configuration;
using GitHubActionsPort.Broker.Store;
using GitHubActionsPort.Broker.Telemetry;

namespace GitHubActionsPort.Broker.Draining;

/// <summary>
/// Runs the drain when the broker stops. It begins at the first sign of a stop (the application's stopping token:
/// SIGTERM, Ctrl-C, a service stop) and the host's stop waits for it in <see cref="StoppingAsync"/>, which the host
/// calls before it stops any hosted service: Kestrel keeps serving (and refusing new work in words an agent acts on)
/// until the drain is over, and only then sends its HTTP/2 connections GOAWAY. The store hears this instance is
/// draining when the drain begins and gone when it ends, best effort and bounded.
/// </summary>
internal sealed class BrokerDrainService(
    BrokerDrain drain,
    BrokerSettings settings,
    BrokerInstance instance,
    IServiceProvider services,
    IHostApplicationLifetime lifetime,
    TimeProvider time,
    ILogger<BrokerDrainService> logger) : IHostedLifecycleService, IDisposable
{
    /// <summary>How long tunnels ended at the drain timeout have to record their ends before the host stops anyway.</summary>
    internal static readonly TimeSpan EndGrace = TimeSpan.FromSeconds(5);

    /// <summary>How long one write of this instance's state may take: an unreachable store must not hang the stop.</summary>
    internal static readonly TimeSpan StoreTimeout = TimeSpan.FromSeconds(5);

    /// <summary>How often a long drain says how it is going.</summary>
    internal static readonly TimeSpan ProgressInterval = TimeSpan.FromMinutes(1);

    /// <summary>
    /// What the host's shutdown needs beyond the drain timeout: the ended tunnels' records, two bounded store writes,
    /// then Kestrel, the raw lane and the side servers stopping.
    /// </summary>
    internal static readonly TimeSpan StopMargin = EndGrace + StoreTimeout + StoreTimeout + TimeSpan.FromSeconds(10);

    private readonly Lock _lock = new();
    private Task? _drained;
    private CancellationTokenRegistration _onStopping;

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        // A signal fires the stopping token before the host's stop begins: the drain starts refusing at once rather
        // than after whatever the host does first.
        _onStopping = lifetime.ApplicationStopping.Register(() => _ = Drained());
        return Task.CompletedTask;
    }

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>The host's stop waits here, before any hosted service (Kestrel first) stops, bounded by its shutdown timeout.</summary>
    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        try
        {
            await Drained().WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            DrainLog.CutShort(logger, drain.OpenTunnels);
            drain.EndTunnels();
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose() => _onStopping.Dispose();

    /// <summary>The one drain, started by whichever comes first: the stopping token or the host's stop.</summary>
    private Task Drained()
    {
        lock (_lock)
        {
            // Off the caller's thread: the stopping token's callbacks run on the thread that handled the signal.
            return _drained ??= Task.Run(DrainAsync);
        }
    }

    private async Task DrainAsync()
    {
        if (drain.Begin() is not { } open)
        {
            return;
        }

        BrokerMetrics.Draining(true);
        var timeout = settings.Transport.DrainTimeout;
        DrainLog.Begun(logger, open, timeout.TotalSeconds);
        var draining = RecordStateAsync(InstanceState.Draining);

        var allFinished = await WaitForTunnelsAsync(open, timeout).ConfigureAwait(false);
        var left = drain.OpenTunnels;
        var finished = Math.Max(0, open - left);
        if (allFinished || left == 0)
        {
            DrainLog.Finished(logger, finished);
        }
        else
        {
            DrainLog.TimedOut(logger, finished, left);
        }

        drain.EndTunnels();
        if (drain.OpenTunnels > 0)
        {
            // Their ends are recorded (audit, store) and their agents told why before Kestrel stops under them.
            try
            {
                await drain.Idle.WaitAsync(EndGrace, time).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                DrainLog.EndsUnrecorded(logger, drain.OpenTunnels, EndGrace.TotalSeconds);
            }
        }

        await draining.ConfigureAwait(false);
        await RecordStateAsync(InstanceState.Gone).ConfigureAwait(false);
    }

    /// <summary>True once every tunnel has finished; false when the timeout passes first. Says how it goes each minute.</summary>
    private async Task<bool> WaitForTunnelsAsync(int open, TimeSpan timeout)
    {
        var started = time.GetTimestamp();
        while (!drain.Idle.IsCompleted)
        {
            var left = timeout - time.GetElapsedTime(started);
            if (left <= TimeSpan.Zero)
            {
                return false;
            }

            try
            {
                await drain.Idle.WaitAsync(left < ProgressInterval ? left : ProgressInterval, time).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                left = timeout - time.GetElapsedTime(started);
                if (left > TimeSpan.Zero)
                {
                    DrainLog.Progress(logger, Math.Max(0, open - drain.OpenTunnels), drain.OpenTunnels, left.TotalSeconds);
                }
            }
        }

        return true;
    }

    /// <summary>Records this instance's state in the store, within <see cref="StoreTimeout"/>; a failure is logged and the stop goes on.</summary>
    private async Task RecordStateAsync(InstanceState state)
    {
        try
        {
            // Looked up now, not injected: a stop must go on whatever became of the store, even one that could not be built.
            var store = services.GetRequiredService<IBrokerStore>();
            using var bounded = new CancellationTokenSource(StoreTimeout, time);
            // WaitAsync too: the bound holds even for a store call that does not watch its token.
            await store.SetInstanceStateAsync(instance.Id, state, bounded.Token).WaitAsync(StoreTimeout, time).ConfigureAwait(false);
            DrainLog.StateRecorded(logger, instance.Id, state);
        }
        catch (Exception ex)
        {
            DrainLog.StateNotRecorded(logger, instance.Id, state, ex is TimeoutException or OperationCanceledException ? $"no answer within {StoreTimeout.TotalSeconds:0} s" : ex.Message);
        }
    }
}
