namespace GitHubActionsPort.Harness.Bench;

/// <summary>Options of <c>ghaport-harness bench</c>.</summary>
internal sealed record BenchOptions
{
    /// <summary>Small sizes for a smoke run (<c>--quick</c>). Default: false.</summary>
    public bool Quick { get; init; }

    /// <summary>Where to write the results as JSON (<c>--json PATH</c>). Default: nowhere.</summary>
    public string? JsonPath { get; init; }

    /// <summary>How to run the agent (<c>--agent</c>). Default: <see cref="AgentMode.Process"/>.</summary>
    public AgentMode Agent { get; init; } = AgentMode.Process;

    public BenchSizes Sizes => Quick ? BenchSizes.Quick : BenchSizes.Default;

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
}
