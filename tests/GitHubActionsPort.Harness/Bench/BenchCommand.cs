using System.Globalization;
using System.Runtime.InteropServices;
using GitHubActionsPort.Harness.Bench.Routes;
using GitHubActionsPort.Harness.Bench.Scenarios;
using GitHubActionsPort.Harness.Bench.Startup;
using GitHubActionsPort.Harness.Bench.Stores;
using GitHubActionsPort.Harness.Output;

namespace GitHubActionsPort.Harness.Bench;

/// <summary>
/// <c>ghaport-harness bench</c>: each scenario over each route — direct, the socat chain, and the ghaport routes
/// (gRPC over h2c and TLS, the raw lane plain and TLS) — in one run, so every ratio compares numbers taken minutes
/// apart on the same machine. Targets and clients run in the harness; each ghaport route has its own broker and
/// agent processes, whose CPU time and memory are read from <c>/proc</c>. A route that cannot start is reported
/// and the others are measured; nothing is asserted on the numbers.
/// </summary>
internal sealed class BenchCommand(BenchOptions options, TextWriter output, TextWriter error) : IHarnessCommand
{
    private const int ProblemsShown = 20;

    private readonly Narrator _narrator = new(output, error);

    public async Task<bool> RunAsync(CancellationToken stopping)
    {
        var startedAt = DateTimeOffset.UtcNow;
        _narrator.Title("ghaport bench: the same scenarios over each route, beside direct loopback and the socat chain measured in the same run.");
        var ledger = new RouteLedger();
        var notes = new List<string>();
        BenchResults results;
        IReadOnlyList<StoreRate> storeRates = [];
        IReadOnlyList<StartupTime> startupTimes = [];
        IReadOnlyList<string> problems;
        var teardown = new Teardown(_narrator, narrate: false);
        try
        {
            // Before anything is started: the agent, broker and socat processes inherit the limit.
            if (options.Scenarios.HasFlag(BenchScenarios.IdleTunnels) && await FileDescriptorLimit.TryRaiseAsync() is { } notRaised)
            {
                notes.Add($"idle tunnels: {notRaised}");
            }

            var pgbench = options.Scenarios.HasFlag(BenchScenarios.Pgbench) ? Pgbench.Find() : null;
            _narrator.Step("setup", $"dev issuer, sink/source/echo targets, TLS files{(pgbench is null ? string.Empty : ", PostgreSQL")}");
            var targets = teardown.Add("targets", await BenchTargets.StartAsync(postgres: pgbench is not null, _narrator, stopping));
            if (pgbench is not null && targets.Direct.Postgres is { } database)
            {
                _narrator.Step("setup", "pgbench -i -s 1 (pgbench's tables, straight to PostgreSQL)");
                await pgbench.InitializeAsync(database, stopping);
            }

            _narrator.Detail($"{Environment.ProcessorCount} cores, {RuntimeInformation.FrameworkDescription}, {BenchReport.BuildConfiguration} build, open-file limit {FileDescriptorLimit.Current()?.ToString("N0", CultureInfo.InvariantCulture) ?? "unknown"}");
            if (options.Quick)
            {
                _narrator.Detail("quick sizes: a smoke run, its numbers are noisy (short warm-up, few samples)");
            }

            var hosts = await StartRoutesAsync(targets, teardown, ledger);
            var runner = new BenchRunner(hosts, options.Sizes, options.Scenarios, pgbench, targets.PostgresProblem, ledger, _narrator);
            results = await runner.RunAsync(stopping);
            notes.AddRange(runner.Notes);
            if (options.Scenarios.HasFlag(BenchScenarios.Stores))
            {
                storeRates = await new StoreBench(options.Sizes.StoreSessions, options.Sizes.StoreTunnelOpens, _narrator).RunAsync(notes, stopping);
                notes.AddRange(storeRates.Select(r => string.Create(CultureInfo.InvariantCulture,
                    $"state store {r.Store}: {r.SessionsPerSecond:0} sessions/s, {r.TunnelOpensPerSecond:0} tunnel opens/s")));
            }

            if (options.Scenarios.HasFlag(BenchScenarios.Startup))
            {
                startupTimes = await new StartupBench(options.Sizes.StartupRuns, _narrator).RunAsync(notes, stopping);
            }

            problems = LogDigest.Fold([.. hosts.SelectMany(h => h.Problems().Select(p => $"{h.Route.Spec.Label}: {p}")), .. targets.Problems()]);
            _narrator.Step("stop", "stopping the routes (agents and brokers with SIGTERM) and the targets");
        }
        catch (Exception ex) when (!stopping.IsCancellationRequested)
        {
            var step = _narrator.CurrentStep;
            await teardown.DisposeAsync();
            _narrator.Fail("bench", step, ex);
            return false;
        }
        finally
        {
            await teardown.DisposeAsync();
        }

        var routes = options.Routes;
        var goals = GoalCheck.Evaluate(results, routes, options.Scenarios);
        var statuses = ledger.Statuses();
        _narrator.Blank();
        WriteRoutes(statuses);
        _narrator.Blank();
        ResultTable.Write(results, routes, output);
        _narrator.Blank();
        GoalCheck.Write(goals, output);
        if (storeRates.Count > 0)
        {
            _narrator.Blank();
            StoreBench.Write(storeRates, output);
        }

        if (startupTimes.Count > 0)
        {
            _narrator.Blank();
            StartupBench.Write(startupTimes, output);
        }

        WriteList("Notes", notes);
        WriteList("Logged along the way", problems);

        var path = options.JsonPath ?? BenchReport.DefaultPath(startedAt);
        var report = new BenchReport(startedAt, _narrator.Elapsed, BenchReport.MachineDescription, Environment.ProcessorCount,
            RuntimeInformation.FrameworkDescription, BenchReport.BuildConfiguration, options.Agent == AgentMode.Process ? "process" : "in-process",
            options.Quick, options.ScenarioList, options.Sizes, statuses, results.Rows, goals, notes, problems);
        await report.WriteAsync(path, stopping);
        _narrator.Blank();
        _narrator.Line($"Bench done in {_narrator.Elapsed.TotalSeconds:0} s; results written to {Path.GetFullPath(path)}");
        return true;
    }

    /// <summary>
    /// Starts every route at once (each ghaport route is two .NET processes to start, a few seconds apiece on a small
    /// machine), then reports them in table order. A route that cannot start is written down and left out.
    /// </summary>
    private async Task<List<IRouteHost>> StartRoutesAsync(BenchTargets targets, Teardown teardown, RouteLedger ledger)
    {
        _narrator.Step("setup", $"starting the routes: {string.Join(", ", options.Routes.Select(r => r.Label))}");
        var starting = options.Routes.Select(spec => (Spec: spec, Task: StartRouteAsync(spec, targets))).ToList();
        try
        {
            await Task.WhenAll(starting.Select(s => s.Task));
        }
        catch (Exception)
        {
            // Each route's own outcome is read below, after the started ones are in the teardown.
        }

        var hosts = new List<IRouteHost>();
        Exception? unexpected = null;
        foreach (var (spec, task) in starting)
        {
            _narrator.Step("setup", $"route {spec.Label}: {spec.Path}");
            if (task.IsCompletedSuccessfully)
            {
                var host = teardown.Add($"route {spec.Label}", task.Result);
                hosts.Add(host);
                ledger.Started(spec, host.Description);
                _narrator.Detail(host.Description);
            }
            else if (task.Exception?.InnerException is RouteUnavailableException ex)
            {
                ledger.Unavailable(spec, ex);
                _narrator.Detail($"{(ex.MissingTool ? "skipped" : "FAILED")}: {ex.Message}");
            }
            else
            {
                unexpected ??= task.Exception?.InnerException;
            }
        }

        // Only now, with every started route in the teardown, so none is left running.
        return unexpected is null ? hosts : throw unexpected;
    }

    private Task<IRouteHost> StartRouteAsync(RouteSpec spec, BenchTargets targets) => spec switch
    {
        _ when spec == RouteSpec.Direct => Task.FromResult<IRouteHost>(new DirectRoute(targets)),
        _ when spec == RouteSpec.Socat => Started(SocatRoute.StartAsync(targets, _narrator)),
        _ => Started(GhaportRoute.StartAsync(spec, targets, options.Agent, _narrator)),
    };

    private static async Task<IRouteHost> Started<T>(Task<T> starting)
        where T : IRouteHost => await starting;

    private void WriteRoutes(IReadOnlyList<RouteStatus> statuses)
    {
        _narrator.Line("Routes:");
        var width = statuses.Max(s => s.Label.Length);
        foreach (var status in statuses)
        {
            var state = status.State switch
            {
                RouteStatus.Measured when status.Failures.Count > 0 => "measured, with failures",
                RouteStatus.Failed => "FAILED",
                var other => other,
            };
            _narrator.Line($"  {status.Label.PadRight(width)}  {state}{(status.Reason is null ? string.Empty : ": " + status.Reason)}");
            foreach (var failure in status.Failures)
            {
                _narrator.Line($"  {new string(' ', width)}    failed {failure}");
            }
        }
    }

    private void WriteList(string title, IReadOnlyList<string> lines)
    {
        if (lines.Count == 0)
        {
            return;
        }

        _narrator.Blank();
        _narrator.Line(lines.Count > ProblemsShown ? $"{title} ({lines.Count}; first {ProblemsShown} shown):" : $"{title}:");
        foreach (var line in lines.Take(ProblemsShown))
        {
            _narrator.Line("  " + line);
        }
    }
}
