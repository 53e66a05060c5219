using System.Globalization;
using GitHubActionsPort.Harness.Bench.Routes;

namespace GitHubActionsPort.Harness.Bench;

/// <summary>
/// The project's performance goals, checked against one run. Informational: a bench on a busy machine is not a
/// verdict, so a missed goal is printed, never turned into a failure. A goal whose numbers were not measured (its
/// route skipped or failed, its scenario not chosen) is n/a. Throughput goals hold both directions to them: a
/// tunnel fast one way only is not fast.
/// </summary>
internal static class GoalCheck
{
    private const int IdleTunnels = 10_000;
    private const double IdleKiBPerTunnel = 48;

    private static readonly (string Name, string Upload, string Download) OneStream = ("1 stream", ScenarioKeys.OneStreamUpload, ScenarioKeys.OneStreamDownload);
    private static readonly (string Name, string Upload, string Download) EightStreams = ("8 streams", ScenarioKeys.EightStreamsUpload, ScenarioKeys.EightStreamsDownload);

    /// <summary>
    /// The goals about the routes and scenarios this run was asked for (a goal needing a route or scenario left out
    /// on the command line is not listed; one whose route failed is n/a).
    /// </summary>
    public static IReadOnlyList<GoalResult> Evaluate(BenchResults results, IReadOnlyList<RouteSpec> routes, BenchScenarios scenarios)
    {
        ArgumentNullException.ThrowIfNull(results);
        ArgumentNullException.ThrowIfNull(routes);
        var goals = new List<(GoalResult Result, BenchScenarios Scenario, RouteSpec[] Routes)>
        {
            (ShareOfDirect(results, RouteSpec.RawPlain, OneStream, 0.35), BenchScenarios.Throughput, [RouteSpec.RawPlain]),
            (AtLeastSocat(results, RouteSpec.RawPlain, OneStream), BenchScenarios.Throughput, [RouteSpec.RawPlain, RouteSpec.Socat]),
            (RoundTripFactor(results, RouteSpec.RawPlain, 3.5), BenchScenarios.RoundTrip, [RouteSpec.RawPlain]),
            (ShareOfDirect(results, RouteSpec.RawTls, OneStream, 0.20), BenchScenarios.Throughput, [RouteSpec.RawTls]),
            (ShareOfDirect(results, RouteSpec.GrpcH2c, OneStream, 0.10), BenchScenarios.Throughput, [RouteSpec.GrpcH2c]),
            (ShareOfDirect(results, RouteSpec.GrpcH2c, EightStreams, 0.10), BenchScenarios.Throughput, [RouteSpec.GrpcH2c]),
            (WithinFactor(results, RouteSpec.GrpcTls, RouteSpec.GrpcH2c, 2), BenchScenarios.Throughput, [RouteSpec.GrpcTls, RouteSpec.GrpcH2c]),
        };
        goals.AddRange(RouteSpec.All.Where(r => r.IsGhaport).Select(route => (IdleMemory(results, route), BenchScenarios.IdleTunnels, new[] { route })));
        goals.Add((PgbenchAtLeastSocat(results, RouteSpec.RawPlain), BenchScenarios.Pgbench, [RouteSpec.RawPlain, RouteSpec.Socat]));
        return goals
            .Where(goal => scenarios.HasFlag(goal.Scenario) && goal.Routes.All(routes.Contains))
            .Select(goal => goal.Result)
            .ToList();
    }

    public static void Write(IReadOnlyList<GoalResult> goals, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(goals);
        ArgumentNullException.ThrowIfNull(output);
        output.WriteLine("Goals (informational, this run only):");
        if (goals.Count == 0)
        {
            output.WriteLine("  none about the routes and scenarios chosen");
            return;
        }

        var width = goals.Max(g => g.Goal.Length);
        foreach (var goal in goals)
        {
            output.WriteLine($"  {goal.Verdict,-4}  {goal.Goal.PadRight(width)}  {goal.Measured}");
        }
    }

    private static GoalResult ShareOfDirect(BenchResults results, RouteSpec route, (string Name, string Upload, string Download) streams, double share)
    {
        var goal = Text($"{route.Label} {streams.Name} >= {share:0%} of direct");
        return Ratios(results, streams, route, RouteSpec.Direct) is not { } ratios
            ? NotMeasured(goal, route)
            : new GoalResult(goal, Math.Min(ratios.Upload, ratios.Download) >= share, Text($"upload {ratios.Upload:0.0%}, download {ratios.Download:0.0%}"));
    }

    private static GoalResult AtLeastSocat(BenchResults results, RouteSpec route, (string Name, string Upload, string Download) streams)
    {
        var goal = $"{route.Label} {streams.Name} >= {RouteSpec.Socat.Label}";
        return Ratios(results, streams, route, RouteSpec.Socat) is not { } ratios
            ? NotMeasured(goal, route, RouteSpec.Socat)
            : new GoalResult(goal, Math.Min(ratios.Upload, ratios.Download) >= 1, Text($"upload {ratios.Upload:0.00}x, download {ratios.Download:0.00}x the socat chain"));
    }

    private static GoalResult RoundTripFactor(BenchResults results, RouteSpec route, double factor)
    {
        var goal = Text($"{route.Label} RTT p50 <= {factor:0.0#}x direct");
        var p50 = results[ScenarioKeys.RoundTripP50];
        return p50?.Ratio(route, RouteSpec.Direct) is not { } ratio
            ? NotMeasured(goal, route)
            : new GoalResult(goal, ratio <= factor, Text($"{ratio:0.00}x ({p50.Value(route):0} us vs {p50.Value(RouteSpec.Direct):0} us)"));
    }

    private static GoalResult WithinFactor(BenchResults results, RouteSpec route, RouteSpec reference, double factor)
    {
        var goal = Text($"{route.Label} within {factor:0}x of {reference.Label}");
        var one = Ratios(results, OneStream, route, reference);
        var eight = Ratios(results, EightStreams, route, reference);
        if (one is null || eight is null)
        {
            return NotMeasured(goal, route, reference);
        }

        var lowest = new[] { one.Value.Upload, one.Value.Download, eight.Value.Upload, eight.Value.Download }.Min();
        return new GoalResult(goal, lowest >= 1 / factor,
            Text($"throughput {one.Value.Upload:0.00}x/{one.Value.Download:0.00}x (1 stream up/down), {eight.Value.Upload:0.00}x/{eight.Value.Download:0.00}x (8 streams)"));
    }

    private static GoalResult IdleMemory(BenchResults results, RouteSpec route)
    {
        var goal = Text($"{route.Label} {IdleTunnels:N0} idle tunnels <= {IdleKiBPerTunnel:0} KiB broker RSS each");
        return results[ScenarioKeys.IdleRss(IdleTunnels)]?.Value(route) is not { } kib
            ? new GoalResult(goal, null, Text($"not measured ({IdleTunnels:N0} idle tunnels were not held through {route.Label})"))
            : new GoalResult(goal, kib <= IdleKiBPerTunnel, Text($"{kib:0.0} KiB per tunnel"));
    }

    private static GoalResult PgbenchAtLeastSocat(BenchResults results, RouteSpec route)
    {
        var goal = $"pgbench TPS through {route.Label} >= {RouteSpec.Socat.Label}";
        var tps = results[ScenarioKeys.PgbenchTps];
        return tps?.Ratio(route, RouteSpec.Socat) is not { } ratio
            ? NotMeasured(goal, route, RouteSpec.Socat)
            : new GoalResult(goal, ratio >= 1, Text($"{tps.Value(route):N0} vs {tps.Value(RouteSpec.Socat):N0} tps ({ratio:0.00}x)"));
    }

    private static (double Upload, double Download)? Ratios(BenchResults results, (string Name, string Upload, string Download) streams, RouteSpec route, RouteSpec baseline) =>
        results[streams.Upload]?.Ratio(route, baseline) is { } upload && results[streams.Download]?.Ratio(route, baseline) is { } download
            ? (upload, download)
            : null;

    private static GoalResult NotMeasured(string goal, params RouteSpec[] routes) =>
        new(goal, null, $"not measured (needs {string.Join(" and ", routes.Select(r => r.Label))})");

    private static string Text(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
