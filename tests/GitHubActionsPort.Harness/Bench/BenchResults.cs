namespace GitHubActionsPort.Harness.Bench;

/// <summary>Every scenario's result, by name for the goal checks and in order for the table.</summary>
internal sealed record BenchResults(
    BenchResult OneStreamUpload,
    BenchResult OneStreamDownload,
    BenchResult EightStreamsUpload,
    BenchResult EightStreamsDownload,
    BenchResult RoundTripP50,
    BenchResult RoundTripP99,
    BenchResult ConnectionRate)
{
    public IReadOnlyList<BenchResult> Rows =>
        [OneStreamUpload, OneStreamDownload, EightStreamsUpload, EightStreamsDownload, RoundTripP50, RoundTripP99, ConnectionRate];
}
