using System.Globalization;

namespace GitHubActionsPort.Harness.Bench;

/// <summary>
/// The project's performance goals, checked against one run. Informational: a bench on a busy laptop is not a
/// verdict, so a missed goal is printed, never turned into a failure.
/// </summary>
internal static class GoalCheck
{
    private const double MinThroughputShare = 0.10;
    private const double MaxRoundTripFactor = 5.0;

    public static IReadOnlyList<GoalResult> Evaluate(BenchResults results)
    {
        ArgumentNullException.ThrowIfNull(results);
        return
        [
            Throughput("1 stream", results.OneStreamUpload, results.OneStreamDownload),
            Throughput("8 streams", results.EightStreamsUpload, results.EightStreamsDownload),
            new GoalResult(
                $"RTT p50 <= {MaxRoundTripFactor:0}x direct",
                results.RoundTripP50.Ratio <= MaxRoundTripFactor,
                string.Create(CultureInfo.InvariantCulture, $"{results.RoundTripP50.Ratio:0.0}x ({results.RoundTripP50.Tunnel:0} us vs {results.RoundTripP50.Direct:0} us)")),
        ];
    }

    public static void Write(IReadOnlyList<GoalResult> goals, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(goals);
        ArgumentNullException.ThrowIfNull(output);
        output.WriteLine("Goals (informational):");
        foreach (var goal in goals)
        {
            output.WriteLine($"  {(goal.Met ? "PASS" : "MISS")}  {goal.Goal,-28} {goal.Measured}");
        }
    }

    // Both directions must meet it: a tunnel fast one way only is not fast.
    private static GoalResult Throughput(string name, BenchResult upload, BenchResult download) => new(
        $"{name} >= {MinThroughputShare:0%} of direct",
        Math.Min(upload.Ratio, download.Ratio) >= MinThroughputShare,
        string.Create(CultureInfo.InvariantCulture, $"upload {upload.Ratio:0.0%}, download {download.Ratio:0.0%}"));
}
