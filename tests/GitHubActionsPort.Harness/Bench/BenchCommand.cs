using System.Globalization;
using System.Runtime.InteropServices;
using GitHubActionsPort.Harness.Output;

namespace GitHubActionsPort.Harness.Bench;

/// <summary>
/// <c>ghaport-harness bench</c>: each scenario through the tunnel and direct to the same target, in the same run,
/// alternating so that a noisy moment hurts both alike. Broker, targets and clients run in the harness process;
/// the agent runs as <see cref="BenchOptions.Agent"/> says. Times come from <see cref="System.Diagnostics.Stopwatch"/>;
/// nothing is asserted on them.
/// </summary>
internal sealed class BenchCommand(BenchOptions options, TextWriter output, TextWriter error) : IHarnessCommand
{
    private const long MiB = 1024 * 1024;

    private readonly Narrator _narrator = new(output, error);

    public async Task<bool> RunAsync(CancellationToken stopping)
    {
        var startedAt = DateTimeOffset.UtcNow;
        var sizes = options.Sizes;
        _narrator.Title("ghaport bench: the same scenarios through the tunnel (client -> agent -> broker -> target) and direct (client -> target).");
        BenchResults results;
        IReadOnlyList<string> problems = [];
        string agent;
        try
        {
            _narrator.Step("setup", "dev issuer, sink/source/echo targets and broker in-process; starting the agent");
            await using var environment = await BenchEnvironment.StartAsync(options.Agent, _narrator, stopping);
            agent = environment.Agent.Description;
            _narrator.Detail($"agent: {agent}");
            _narrator.Detail($"{Environment.ProcessorCount} cores, {RuntimeInformation.FrameworkDescription}, {BenchReport.BuildConfiguration} build");
            if (options.Quick)
            {
                _narrator.Detail("quick sizes: a smoke run, its numbers are noisy (short warm-up, few samples)");
            }

            try
            {
                _narrator.Step("warm-up", "every scenario once, small, both ways (JIT, pools, TCP and HTTP/2 windows)");
                await MeasureAllAsync(environment, sizes.WarmUp(), narrate: false, stopping);
                results = await MeasureAllAsync(environment, sizes, narrate: true, stopping);

                _narrator.Step("stop", "stopping the agent (SIGTERM, or its in-process equivalent)");
                var exitCode = await environment.Agent.StopAsync();
                if (exitCode != 0)
                {
                    throw new InvalidOperationException($"the agent exited with code {exitCode} when stopped; expected 0");
                }
            }
            finally
            {
                problems = environment.Problems();
            }
        }
        catch (Exception ex) when (!stopping.IsCancellationRequested)
        {
            WriteProblems(problems);
            _narrator.Fail("bench", _narrator.CurrentStep, ex);
            return false;
        }

        var goals = GoalCheck.Evaluate(results);
        _narrator.Blank();
        ResultTable.Write(results.Rows, output);
        _narrator.Blank();
        GoalCheck.Write(goals, output);
        WriteProblems(problems);

        if (options.JsonPath is { } path)
        {
            var report = new BenchReport(startedAt, agent, BenchReport.MachineDescription, Environment.ProcessorCount,
                RuntimeInformation.FrameworkDescription, BenchReport.BuildConfiguration, sizes, results.Rows, goals, problems);
            await report.WriteAsync(path, stopping);
            _narrator.Line($"Results written to {Path.GetFullPath(path)}");
        }

        return true;
    }

    private async Task<BenchResults> MeasureAllAsync(BenchEnvironment environment, BenchSizes sizes, bool narrate, CancellationToken stopping)
    {
        var runs = sizes.Runs;
        var median = runs > 1 ? $", median of {runs}" : string.Empty;

        async Task<BenchResult> ThroughputAsync(string key, TransferDirection direction, int streams, long bytesPerStream)
        {
            var scenario = new ThroughputScenario(direction, streams, bytesPerStream);
            var label = $"{scenario.Name} ({scenario.TotalBytes / MiB} MiB{median})";
            return Reported(await CompareAsync(key, label, "MB/s", route => scenario.MeasureAsync(route, stopping)), narrate);
        }

        var oneUp = await ThroughputAsync("one-stream-upload", TransferDirection.Upload, 1, sizes.OneStreamBytes);
        var oneDown = await ThroughputAsync("one-stream-download", TransferDirection.Download, 1, sizes.OneStreamBytes);
        var eightUp = await ThroughputAsync("eight-streams-upload", TransferDirection.Upload, 8, sizes.PerStreamBytes);
        var eightDown = await ThroughputAsync("eight-streams-download", TransferDirection.Download, 8, sizes.PerStreamBytes);

        var latency = new LatencyScenario(sizes.LatencyWarmUp, sizes.LatencyRoundTrips);
        var (direct, tunnel) = await latency.CompareAsync(environment.Direct, environment.Tunnel, stopping);
        var p50 = Reported(new BenchResult("rtt-p50", $"{latency.Name}, p50", "us", direct.P50, tunnel.P50, HigherIsBetter: false), narrate);
        var p99 = Reported(new BenchResult("rtt-p99", $"{latency.Name}, p99", "us", direct.P99, tunnel.P99, HigherIsBetter: false), narrate);

        var connections = new ConnectionRateScenario(sizes.Connections, sizes.ConnectionConcurrency);
        var rate = Reported(await CompareAsync("connection-rate", $"{connections.Name}{median}", "conn/s", route => connections.MeasureAsync(route, stopping)), narrate);

        return new BenchResults(oneUp, oneDown, eightUp, eightDown, p50, p99, rate);

        // Routes alternate run by run, so drift on a busy machine spreads over both.
        async Task<BenchResult> CompareAsync(string key, string scenario, string unit, Func<BenchRoute, Task<double>> measure)
        {
            var directRuns = new List<double>(runs);
            var tunnelRuns = new List<double>(runs);
            for (var run = 0; run < runs; run++)
            {
                directRuns.Add(await measure(environment.Direct));
                tunnelRuns.Add(await measure(environment.Tunnel));
            }

            return new BenchResult(key, scenario, unit, Median(directRuns), Median(tunnelRuns), HigherIsBetter: true);
        }
    }

    private BenchResult Reported(BenchResult result, bool narrate)
    {
        if (narrate)
        {
            _narrator.Step("measure", string.Create(CultureInfo.InvariantCulture,
                $"{result.Scenario}: direct {result.Direct:N1} {result.Unit}, tunnel {result.Tunnel:N1} {result.Unit}"));
        }

        return result;
    }

    private void WriteProblems(IReadOnlyList<string> problems)
    {
        if (problems.Count == 0)
        {
            return;
        }

        _narrator.Blank();
        _narrator.Line($"Logged along the way ({problems.Count}; first 20 shown):");
        foreach (var problem in problems.Take(20))
        {
            _narrator.Line("  " + problem);
        }
    }

    private static double Median(List<double> values)
    {
        values.Sort();
        var middle = values.Count / 2;
        return values.Count % 2 == 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2;
    }
}
