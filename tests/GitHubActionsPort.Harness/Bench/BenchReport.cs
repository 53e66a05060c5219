using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace GitHubActionsPort.Harness.Bench;

/// <summary>A bench run as written to JSON: where and how it ran, how each route fared, every result, every goal.</summary>
internal sealed record BenchReport(
    DateTimeOffset StartedAt,
    TimeSpan Duration,
    string Machine,
    int ProcessorCount,
    string Runtime,
    string Configuration,
    string Agent,
    bool Quick,
    IReadOnlyList<string> Scenarios,
    BenchSizes Sizes,
    IReadOnlyList<RouteStatus> Routes,
    IReadOnlyList<BenchResult> Results,
    IReadOnlyList<GoalResult> Goals,
    IReadOnlyList<string> Notes,
    IReadOnlyList<string> Problems)
{
    public static string BuildConfiguration =>
        typeof(BenchReport).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "unknown";

    public static string MachineDescription => $"{RuntimeInformation.OSDescription} {RuntimeInformation.OSArchitecture}";

    /// <summary>
    /// Where a run's JSON goes unless <c>--json</c> says: <c>bench/results/yyyyMMdd-HHmmss.json</c> (UTC) at the root
    /// of the repository the command runs in, found by its solution file, else under the current folder.
    /// </summary>
    public static string DefaultPath(DateTimeOffset startedAt)
    {
        var root = new DirectoryInfo(Environment.CurrentDirectory);
        for (var folder = root; folder is not null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "GitHubActionsPort.sln")))
            {
                root = folder;
                break;
            }
        }

        return Path.Combine(root.FullName, "bench", "results", $"{startedAt.UtcDateTime:yyyyMMdd-HHmmss}.json");
    }

    /// <summary>Writes beside the file, then renames over it, so a reader never sees half a report.</summary>
    public async Task WriteAsync(string path, CancellationToken cancellationToken)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var temporary = full + ".tmp";
        await using (var file = File.Create(temporary))
        {
            await JsonSerializer.SerializeAsync(file, this, BenchJsonContext.Default.BenchReport, cancellationToken);
        }

        File.Move(temporary, full, overwrite: true);
    }
}
