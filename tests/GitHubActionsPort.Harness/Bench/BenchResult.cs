namespace GitHubActionsPort.Harness.Bench;

/// <summary>One scenario measured both ways.</summary>
/// <param name="Key">Stable name for comparing runs (the JSON's key), e.g. <c>one-stream-upload</c>.</param>
/// <param name="Scenario">What was measured, with its size, for people.</param>
/// <param name="Unit">Unit of <paramref name="Direct"/> and <paramref name="Tunnel"/>.</param>
/// <param name="Direct">Client straight to the target.</param>
/// <param name="Tunnel">Client to the agent, through the broker, to the same target.</param>
/// <param name="HigherIsBetter">True for rates, false for times.</param>
internal sealed record BenchResult(string Key, string Scenario, string Unit, double Direct, double Tunnel, bool HigherIsBetter)
{
    /// <summary>Tunnel divided by direct: below 1 for rates, above 1 for times, whichever way the tunnel costs.</summary>
    public double Ratio => Tunnel / Direct;
}
