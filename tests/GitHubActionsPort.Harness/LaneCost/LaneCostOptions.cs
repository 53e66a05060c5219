using GitHubActionsPort.Harness.Bench.Scenarios;

namespace GitHubActionsPort.Harness.LaneCost;

/// <summary>Options of <c>ghaport-harness lane-cost</c>.</summary>
internal sealed record LaneCostOptions
{
    /// <summary>MiB moved by each transfer (<c>--mib N</c>). Default: 1024.</summary>
    public int MiB { get; init; } = 1024;

    /// <summary>Rounds; each round runs every lane once per direction (<c>--runs N</c>). Default: 3.</summary>
    public int Runs { get; init; } = 3;

    /// <summary>Measure this lane only, <c>h2c</c> or <c>tls</c> (<c>--lane NAME</c>), e.g. to trace one. Default: both.</summary>
    public string? Lane { get; init; }

    /// <summary>
    /// Another build's <c>ghaport-broker.dll</c> (<c>--baseline PATH</c>), measured in the same run with lanes of its
    /// own, for a before/after. Default: none.
    /// </summary>
    public string? BaselineBroker { get; init; }

    /// <summary>Measure this direction only (<c>--direction upload|download</c>). Default: both.</summary>
    public TransferDirection? Direction { get; init; }

    public static LaneCostOptions Parse(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var options = new LaneCostOptions();
        for (var i = 0; i < args.Count; i++)
        {
            options = args[i] switch
            {
                "--mib" when i + 1 < args.Count => options with { MiB = Positive("--mib", args[++i]) },
                "--runs" when i + 1 < args.Count => options with { Runs = Positive("--runs", args[++i]) },
                "--lane" when i + 1 < args.Count => options with { Lane = args[++i] is "h2c" or "tls" ? args[i] : throw new UsageException($"--lane must be h2c or tls, not '{args[i]}'") },
                "--direction" when i + 1 < args.Count => options with { Direction = ParseDirection(args[++i]) },
                "--baseline" when i + 1 < args.Count => options with { BaselineBroker = File.Exists(args[++i]) ? args[i] : throw new UsageException($"--baseline: no file '{args[i]}'") },
                "--mib" or "--runs" or "--lane" or "--direction" or "--baseline" => throw new UsageException($"{args[i]} needs a value"),
                _ => throw new UsageException($"unknown lane-cost option '{args[i]}'"),
            };
        }

        return options;
    }

    private static TransferDirection ParseDirection(string value) => value switch
    {
        "upload" => TransferDirection.Upload,
        "download" => TransferDirection.Download,
        _ => throw new UsageException($"--direction must be upload or download, not '{value}'"),
    };

    private static int Positive(string option, string value) =>
        int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) && n > 0
            ? n
            : throw new UsageException($"{option} must be a positive whole number, not '{value}'");
}
