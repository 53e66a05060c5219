using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace GitHubActionsPort.Harness.Bench;

/// <summary>A bench run as written by <c>--json</c>: where and how it ran, every result, every goal.</summary>
internal sealed record BenchReport(
    DateTimeOffset StartedAt,
    string Agent,
    string Machine,
    int ProcessorCount,
    string Runtime,
    string Configuration,
    BenchSizes Sizes,
    IReadOnlyList<BenchResult> Results,
    IReadOnlyList<GoalResult> Goals,
    IReadOnlyList<string> Problems)
{
    public static string BuildConfiguration =>
        typeof(BenchReport).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "unknown";

    public static string MachineDescription => $"{RuntimeInformation.OSDescription} {RuntimeInformation.OSArchitecture}";

    public async Task WriteAsync(string path, CancellationToken cancellationToken)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        await using var file = File.Create(path);
        await JsonSerializer.SerializeAsync(file, this, BenchJsonContext.Default.BenchReport, cancellationToken);
    }
}
