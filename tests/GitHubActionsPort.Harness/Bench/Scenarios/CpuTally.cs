using GitHubActionsPort.Harness.Bench.Routes;

namespace GitHubActionsPort.Harness.Bench.Scenarios;

/// <summary>
/// CPU seconds a route's processes spent while the throughput scenarios moved bytes through them, per side, read
/// from <c>/proc</c> around each run: the cost of a gigabyte that a wall-clock rate on a shared machine hides.
/// </summary>
internal sealed class CpuTally(RouteProcesses processes)
{
    private static readonly TimeSpan ReapTimeout = TimeSpan.FromSeconds(2);

    private TimeSpan _runner;
    private TimeSpan _server;
    private long _bytes;
    private bool _runnerUnreadable;
    private bool _serverUnreadable;

    /// <summary>Runner-side (agent, first socat) CPU seconds per 10^9 bytes; null when not measured.</summary>
    public double? RunnerSecondsPerGigabyte => _runnerUnreadable ? null : PerGigabyte(_runner);

    /// <summary>Server-side (broker, second socat) CPU seconds per 10^9 bytes; null when not measured.</summary>
    public double? ServerSecondsPerGigabyte => _serverUnreadable ? null : PerGigabyte(_server);

    /// <summary>Runs <paramref name="measure"/>, which moves <paramref name="bytes"/>, and adds what it cost each side.</summary>
    public async Task<T> MeasureAsync<T>(long bytes, Func<Task<T>> measure, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(measure);
        await SettleAsync(cancellationToken);
        var runnerBefore = ProcStats.CpuTime(processes.RunnerSide, processes.Forks);
        var serverBefore = ProcStats.CpuTime(processes.ServerSide, processes.Forks);
        var result = await measure();
        await SettleAsync(cancellationToken);
        var runnerAfter = ProcStats.CpuTime(processes.RunnerSide, processes.Forks);
        var serverAfter = ProcStats.CpuTime(processes.ServerSide, processes.Forks);

        _runnerUnreadable |= runnerBefore is null || runnerAfter is null;
        _serverUnreadable |= serverBefore is null || serverAfter is null;
        _runner += (runnerAfter - runnerBefore) ?? TimeSpan.Zero;
        _server += (serverAfter - serverBefore) ?? TimeSpan.Zero;
        _bytes += bytes;
        return result;
    }

    // A forked relay's connection process adds its CPU time to the parent's counters only once reaped.
    private Task SettleAsync(CancellationToken cancellationToken) =>
        processes.Forks
            ? ProcStats.WaitForChildrenReapedAsync([.. processes.RunnerSide, .. processes.ServerSide], ReapTimeout, cancellationToken)
            : Task.CompletedTask;

    private double? PerGigabyte(TimeSpan cpu) => _bytes == 0 ? null : cpu.TotalSeconds / (_bytes / 1e9);
}
