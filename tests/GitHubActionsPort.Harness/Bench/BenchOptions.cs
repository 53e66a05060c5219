using GitHubActionsPort.Harness.Bench.Routes;

namespace GitHubActionsPort.Harness.Bench;

/// <summary>Options of <c>ghaport-harness bench</c>.</summary>
internal sealed record BenchOptions
{
    private static readonly IReadOnlyDictionary<string, BenchScenarios> ScenarioNames = new Dictionary<string, BenchScenarios>(StringComparer.Ordinal)
    {
        ["throughput"] = BenchScenarios.Throughput,
        ["rtt"] = BenchScenarios.RoundTrip,
        ["connect"] = BenchScenarios.ConnectionRate,
        ["idle"] = BenchScenarios.IdleTunnels,
        ["pgbench"] = BenchScenarios.Pgbench,
        ["stores"] = BenchScenarios.Stores,
        ["startup"] = BenchScenarios.Startup,
    };

    /// <summary>Small sizes for a smoke run (<c>--quick</c>). Default: false.</summary>
    public bool Quick { get; init; }

    /// <summary>Where to write the results as JSON (<c>--json PATH</c>). Default: <c>bench/results/TIMESTAMP.json</c> in the repository.</summary>
    public string? JsonPath { get; init; }

    /// <summary>How to run the agent (<c>--agent</c>). Default: <see cref="AgentMode.Process"/>.</summary>
    public AgentMode Agent { get; init; } = AgentMode.Process;

    /// <summary>
    /// The routes to measure (<c>--routes direct,socat,...</c>), in table order. Direct is always among them: every
    /// ratio is taken against it. Default: all six.
    /// </summary>
    public IReadOnlyList<RouteSpec> Routes { get; init; } = RouteSpec.All;

    /// <summary>The scenarios to run (<c>--scenarios throughput,rtt,...</c>). Default: all.</summary>
    public BenchScenarios Scenarios { get; init; } = BenchScenarios.All;

    public BenchSizes Sizes => Quick ? BenchSizes.Quick : BenchSizes.Default;

    public static string KnownRoutes => string.Join(", ", RouteSpec.All.Select(r => r.Key));

    public static string KnownScenarios => string.Join(", ", ScenarioNames.Keys);

    /// <summary>The names of <see cref="Scenarios"/>, for the report.</summary>
    public IReadOnlyList<string> ScenarioList => ScenarioNames.Where(entry => Scenarios.HasFlag(entry.Value)).Select(entry => entry.Key).ToList();

    public static BenchOptions Parse(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var options = new BenchOptions();
        for (var i = 0; i < args.Count; i++)
        {
            options = args[i] switch
            {
                "--quick" => options with { Quick = true },
                "--json" when i + 1 < args.Count => options with { JsonPath = args[++i] },
                "--json" => throw new UsageException("--json needs a file path"),
                "--agent" when i + 1 < args.Count => options with { Agent = ParseAgent(args[++i]) },
                "--agent" => throw new UsageException("--agent needs a value: process or in-process"),
                "--routes" when i + 1 < args.Count => options with { Routes = ParseRoutes(args[++i]) },
                "--routes" => throw new UsageException($"--routes needs a list of: {KnownRoutes}"),
                "--scenarios" when i + 1 < args.Count => options with { Scenarios = ParseScenarios(args[++i]) },
                "--scenarios" => throw new UsageException($"--scenarios needs a list of: {KnownScenarios}"),
                _ => throw new UsageException($"unknown bench option '{args[i]}'"),
            };
        }

        return options;
    }

    private static AgentMode ParseAgent(string value) => value switch
    {
        "process" => AgentMode.Process,
        "in-process" => AgentMode.InProcess,
        _ => throw new UsageException($"--agent must be process or in-process, not '{value}'"),
    };

    private static List<RouteSpec> ParseRoutes(string value)
    {
        var keys = Split(value);
        if (keys.FirstOrDefault(k => RouteSpec.All.All(r => r.Key != k)) is { } unknown)
        {
            throw new UsageException($"--routes: unknown route '{unknown}' (routes: {KnownRoutes})");
        }

        return RouteSpec.All.Where(r => r == RouteSpec.Direct || keys.Contains(r.Key)).ToList();
    }

    private static BenchScenarios ParseScenarios(string value)
    {
        var scenarios = BenchScenarios.None;
        foreach (var key in Split(value))
        {
            scenarios |= ScenarioNames.TryGetValue(key, out var scenario)
                ? scenario
                : throw new UsageException($"--scenarios: unknown scenario '{key}' (scenarios: {KnownScenarios})");
        }

        return scenarios == BenchScenarios.None ? throw new UsageException($"--scenarios needs a list of: {KnownScenarios}") : scenarios;
    }

    private static List<string> Split(string value) =>
        value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToList();
}
