using System.Globalization;
using GitHubActionsPort.Harness.Bench.Routes;
using GitHubActionsPort.Harness.Bench.Scenarios;
using GitHubActionsPort.Harness.Output;

namespace GitHubActionsPort.Harness.Bench;

/// <summary>
/// Runs the chosen scenarios over every started route. Scenarios with repeated runs take them round-robin across
/// the routes (direct, socat, grpc h2c, ..., then again), so drift on a busy machine spreads over all of them and
/// each ratio compares numbers from the same minutes. A route that fails a scenario is written down in the
/// <see cref="RouteLedger"/> and left out of that scenario; a route whose processes died is left out of the rest.
/// </summary>
internal sealed class BenchRunner(IReadOnlyList<IRouteHost> hosts, BenchSizes sizes, BenchScenarios scenarios, Pgbench? pgbench, string? postgresProblem, RouteLedger ledger, Narrator narrator)
{
    private const long MiB = 1024 * 1024;

    private readonly List<string> _notes = [];

    /// <summary>What was left out and why (a scenario's tool missing, a count past the open-file limit).</summary>
    public IReadOnlyList<string> Notes => _notes;

    public async Task<BenchResults> RunAsync(CancellationToken stopping)
    {
        var traffic = BenchScenarios.Throughput | BenchScenarios.RoundTrip | BenchScenarios.ConnectionRate;
        if ((scenarios & traffic) != 0)
        {
            narrator.Step("warm-up", "every traffic scenario once, small, on every route (JIT, pools, TCP and HTTP/2 windows)");
            await TrafficAsync(sizes.WarmUp(), measured: false, stopping);
        }

        var rows = new List<BenchResult>();
        rows.AddRange(await TrafficAsync(sizes, measured: true, stopping));
        if (scenarios.HasFlag(BenchScenarios.ConnectionRate) && OperatingSystem.IsLinux())
        {
            narrator.Step("peer check", "the agent's local-user lookup per accepted connection, against a loopback accept");
            _notes.Add(await PeerCheckScenario.MeasureAsync(stopping));
        }

        if (scenarios.HasFlag(BenchScenarios.Pgbench) && await PgbenchAsync(stopping) is { } tps)
        {
            rows.Add(tps);
        }

        // Last: it leaves each broker's heap grown by thousands of tunnels.
        if (scenarios.HasFlag(BenchScenarios.IdleTunnels))
        {
            rows.AddRange(await IdleTunnelsAsync(stopping));
        }

        return new BenchResults(rows);
    }

    private async Task<List<BenchResult>> TrafficAsync(BenchSizes run, bool measured, CancellationToken stopping)
    {
        var rows = new List<BenchResult>();
        var median = run.Runs > 1 ? $", median of {run.Runs}" : string.Empty;
        if (scenarios.HasFlag(BenchScenarios.Throughput))
        {
            var tallies = hosts.Where(h => h.Route.Processes is not null).ToDictionary(h => h.Route.Spec, h => new CpuTally(h.Route.Processes!));
            async Task<BenchResult> ThroughputAsync(string key, TransferDirection direction, int streams, long bytesPerStream)
            {
                var scenario = new ThroughputScenario(direction, streams, bytesPerStream);
                return await CompareAsync(key, $"{scenario.Name} ({scenario.TotalBytes / MiB} MiB{median})", "MB/s", higherIsBetter: true, run.Runs, measured, host =>
                    tallies.TryGetValue(host.Route.Spec, out var tally)
                        ? tally.MeasureAsync(scenario.TotalBytes, () => scenario.MeasureAsync(host.Route, stopping), stopping)
                        : scenario.MeasureAsync(host.Route, stopping), stopping);
            }

            rows.Add(await ThroughputAsync(ScenarioKeys.OneStreamUpload, TransferDirection.Upload, 1, run.OneStreamBytes));
            rows.Add(await ThroughputAsync(ScenarioKeys.OneStreamDownload, TransferDirection.Download, 1, run.OneStreamBytes));
            rows.Add(await ThroughputAsync(ScenarioKeys.EightStreamsUpload, TransferDirection.Upload, 8, run.PerStreamBytes));
            rows.Add(await ThroughputAsync(ScenarioKeys.EightStreamsDownload, TransferDirection.Download, 8, run.PerStreamBytes));
            if (measured && ProcStats.IsAvailable)
            {
                rows.AddRange(CpuRows(tallies));
            }
        }

        if (scenarios.HasFlag(BenchScenarios.RoundTrip))
        {
            var latency = new LatencyScenario(run.LatencyWarmUp, run.LatencyRoundTrips);
            var samples = await latency.MeasureAsync(Alive().Select(h => h.Route).ToList(), (route, ex) => Failed(route.Spec, measured ? latency.Name : $"warm-up, {latency.Name}", ex, measured), stopping);
            rows.Add(Reported(new BenchResult(ScenarioKeys.RoundTripP50, $"{latency.Name}, p50", "us", false, samples.ToDictionary(s => s.Key, s => s.Value.P50, StringComparer.Ordinal)), measured));
            rows.Add(Reported(new BenchResult(ScenarioKeys.RoundTripP99, $"{latency.Name}, p99", "us", false, samples.ToDictionary(s => s.Key, s => s.Value.P99, StringComparer.Ordinal)), measured));
        }

        if (scenarios.HasFlag(BenchScenarios.ConnectionRate))
        {
            var connections = new ConnectionRateScenario(run.Connections, run.ConnectionConcurrency);
            rows.Add(await CompareAsync(ScenarioKeys.ConnectionRate, $"{connections.Name}{median}", "conn/s", higherIsBetter: true, run.Runs, measured, host => connections.MeasureAsync(host.Route, stopping), stopping));
        }

        return rows;
    }

    private IEnumerable<BenchResult> CpuRows(Dictionary<RouteSpec, CpuTally> tallies)
    {
        var runner = tallies.Where(t => t.Value.RunnerSecondsPerGigabyte is not null).ToDictionary(t => t.Key.Key, t => t.Value.RunnerSecondsPerGigabyte!.Value, StringComparer.Ordinal);
        var server = tallies.Where(t => t.Value.ServerSecondsPerGigabyte is not null).ToDictionary(t => t.Key.Key, t => t.Value.ServerSecondsPerGigabyte!.Value, StringComparer.Ordinal);
        yield return Reported(new BenchResult(ScenarioKeys.AgentCpu, "agent CPU per GB, throughput scenarios (socat: first relay)", "s/GB", false, runner), narrate: true);
        yield return Reported(new BenchResult(ScenarioKeys.BrokerCpu, "broker CPU per GB, throughput scenarios (socat: second relay)", "s/GB", false, server), narrate: true);
    }

    private async Task<BenchResult?> PgbenchAsync(CancellationToken stopping)
    {
        if (pgbench is null)
        {
            _notes.Add("pgbench: not measured, pgbench not found (apt-get install postgresql-client)");
            return null;
        }

        var withDatabase = Alive().Where(h => h.Route.Postgres is not null).ToList();
        if (withDatabase.Count == 0)
        {
            _notes.Add($"pgbench: not measured, {postgresProblem ?? "PostgreSQL's server binaries (initdb, pg_ctl, postgres) not found (apt-get install postgresql)"}");
            return null;
        }

        var median = sizes.PgbenchRuns > 1 ? $", median of {sizes.PgbenchRuns}" : string.Empty;
        var name = $"pgbench -S, TPS ({sizes.PgbenchClients} clients, {sizes.PgbenchThreads} threads, {sizes.PgbenchDuration.TotalSeconds:0} s{median})";
        return await CompareAsync(ScenarioKeys.PgbenchTps, name, "tps", higherIsBetter: true, sizes.PgbenchRuns, measured: true, host =>
            pgbench.SelectOnlyAsync(host.Route.Postgres!, sizes.PgbenchClients, sizes.PgbenchThreads, sizes.PgbenchDuration, stopping), stopping, withDatabase);
    }

    private async Task<List<BenchResult>> IdleTunnelsAsync(CancellationToken stopping)
    {
        if (!ProcStats.IsAvailable)
        {
            _notes.Add("idle tunnels: not measured, broker RSS is read from /proc (Linux only)");
            return [];
        }

        var values = sizes.IdleTunnels.Distinct().Order().ToDictionary(c => c, _ => new Dictionary<string, double>(StringComparer.Ordinal));
        foreach (var host in Alive().Where(h => h.Route.Idle is not null && h.Route.Processes?.Broker is not null))
        {
            var counts = new List<int>();
            foreach (var count in values.Keys)
            {
                if (IdleTunnelScenario.WhyNot(count, host.Route) is { } why)
                {
                    _notes.Add($"idle tunnels: not measured: {why}");
                }
                else
                {
                    counts.Add(count);
                }
            }

            if (counts.Count == 0)
            {
                continue;
            }

            var scenario = new IdleTunnelScenario(counts, sizes.IdleTunnelConcurrency);
            narrator.Step("measure", $"idle tunnels through {host.Route.Spec.Label}: opening {string.Join(", then ", scenario.Counts.Select(c => c.ToString("N0", CultureInfo.InvariantCulture)))}");
            try
            {
                var reading = await scenario.MeasureAsync(host.Route, stopping);
                foreach (var level in reading.Levels)
                {
                    values[level.Count][host.Route.Key] = level.BytesPerTunnel / 1024;
                    narrator.Detail(string.Create(CultureInfo.InvariantCulture,
                        $"{level.Count:N0} open: broker RSS {reading.RssBefore / (double)MiB:N1} -> {level.Rss / (double)MiB:N1} MiB, {level.BytesPerTunnel / 1024:N1} KiB per tunnel"));
                }

                if (reading.Failure is { } failure)
                {
                    Failed(host, string.Create(CultureInfo.InvariantCulture, $"idle tunnels, with {reading.OpenWhenFailed:N0} open"), failure, narrate: true);
                }
            }
            catch (Exception ex) when (!stopping.IsCancellationRequested)
            {
                Failed(host, "idle tunnels", ex, narrate: true);
            }
        }

        return values.Select(entry => Reported(new BenchResult(ScenarioKeys.IdleRss(entry.Key), IdleTunnelScenario.Name(entry.Key), "KiB", false, entry.Value), narrate: true)).ToList();
    }

    /// <summary>
    /// Runs <paramref name="measure"/> <paramref name="runs"/> times on each route, route after route within each
    /// run, and keeps each route's median. A route that throws is dropped from the scenario.
    /// </summary>
    private async Task<BenchResult> CompareAsync(
        string key,
        string scenario,
        string unit,
        bool higherIsBetter,
        int runs,
        bool measured,
        Func<IRouteHost, Task<double>> measure,
        CancellationToken stopping,
        IReadOnlyList<IRouteHost>? only = null)
    {
        var taking = (only ?? Alive()).ToList();
        var values = taking.ToDictionary(h => h, _ => new List<double>(runs));
        for (var run = 0; run < runs; run++)
        {
            foreach (var host in taking.ToList())
            {
                try
                {
                    values[host].Add(await measure(host));
                }
                catch (Exception ex) when (!stopping.IsCancellationRequested)
                {
                    Failed(host, measured ? scenario : $"warm-up, {scenario}", ex, narrate: measured);
                    taking.Remove(host);
                    values.Remove(host);
                }
            }
        }

        return Reported(new BenchResult(key, scenario, unit, higherIsBetter, values.ToDictionary(v => v.Key.Route.Key, v => Median(v.Value), StringComparer.Ordinal)), measured);
    }

    private IEnumerable<IRouteHost> Alive() => hosts.Where(h => h.IsAlive);

    private void Failed(RouteSpec route, string scenario, Exception exception, bool narrate) =>
        Failed(hosts.First(h => h.Route.Spec == route), scenario, exception, narrate);

    /// <summary>
    /// Writes a route's failure down with the last thing its processes logged: a client sees only a reset, the
    /// agent or broker usually said why.
    /// </summary>
    private void Failed(IRouteHost host, string scenario, Exception exception, bool narrate)
    {
        var said = host.Problems() is { Count: > 0 } problems ? $" (last logged: {problems[^1]})" : string.Empty;
        var detail = $"{exception.GetType().Name}: {exception.Message}{said}";
        ledger.ScenarioFailed(host.Route.Spec, scenario, detail);
        if (narrate)
        {
            narrator.Step("measure", $"{host.Route.Spec.Label} failed {scenario}: {detail}");
        }
    }

    private BenchResult Reported(BenchResult result, bool narrate)
    {
        if (narrate)
        {
            var values = RouteSpec.All.Where(r => result.Value(r) is not null).Select(r => $"{r.Label} {ResultTable.Number(result.Value(r)!.Value)}").ToList();
            narrator.Step("measure", $"{result.Scenario}, {result.Unit}: {(values.Count == 0 ? "not measured on any route" : string.Join(", ", values))}");
        }

        return result;
    }

    private static double Median(List<double> values)
    {
        values.Sort();
        var middle = values.Count / 2;
        return values.Count % 2 == 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2;
    }
}
