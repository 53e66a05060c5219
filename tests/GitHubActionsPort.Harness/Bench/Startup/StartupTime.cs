namespace GitHubActionsPort.Harness.Bench.Startup;

/// <summary>
/// One kind of agent's figures from one run: what a user downloads (the program, or for a framework-dependent
/// agent every file it loads beside the .NET runtime) and the milliseconds from process start to its ready line.
/// </summary>
internal sealed record StartupTime(string Kind, long SizeBytes, IReadOnlyList<double> ReadyMilliseconds)
{
    public double Median
    {
        get
        {
            var sorted = ReadyMilliseconds.Order().ToList();
            return sorted.Count == 0 ? double.NaN
                : sorted.Count % 2 == 1 ? sorted[sorted.Count / 2]
                : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
        }
    }

    public double Fastest => ReadyMilliseconds.Count == 0 ? double.NaN : ReadyMilliseconds.Min();

    public double Slowest => ReadyMilliseconds.Count == 0 ? double.NaN : ReadyMilliseconds.Max();
}
