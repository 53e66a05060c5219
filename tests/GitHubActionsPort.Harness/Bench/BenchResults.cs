namespace GitHubActionsPort.Harness.Bench;

/// <summary>Every scenario's result, in table order, and by key for the goal checks.</summary>
internal sealed class BenchResults(IReadOnlyList<BenchResult> rows)
{
    public IReadOnlyList<BenchResult> Rows { get; } = rows;

    /// <summary>The result of <paramref name="key"/> (a <see cref="ScenarioKeys"/> value); null when that scenario did not run.</summary>
    public BenchResult? this[string key] => Rows.FirstOrDefault(r => r.Key == key);
}
