namespace GitHubActionsPort.Harness.Demo;

/// <summary>Options of <c>ghaport-harness demo</c>.</summary>
internal sealed record DemoOptions
{
    /// <summary>What to tunnel to. Default: <see cref="DemoTarget.Auto"/>.</summary>
    public DemoTarget Target { get; init; } = DemoTarget.Auto;

    public static DemoOptions Parse(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var options = new DemoOptions();
        for (var i = 0; i < args.Count; i++)
        {
            options = args[i] switch
            {
                "--target" when i + 1 < args.Count => options with { Target = ParseTarget(args[++i]) },
                "--target" => throw new UsageException("--target needs a value: auto, postgres or echo"),
                _ => throw new UsageException($"unknown demo option '{args[i]}'"),
            };
        }

        return options;
    }

    private static DemoTarget ParseTarget(string value) => value switch
    {
        "auto" => DemoTarget.Auto,
        "postgres" => DemoTarget.Postgres,
        "echo" => DemoTarget.Echo,
        _ => throw new UsageException($"--target must be auto, postgres or echo, not '{value}'"),
    };
}
