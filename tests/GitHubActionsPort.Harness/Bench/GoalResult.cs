namespace GitHubActionsPort.Harness.Bench;

/// <summary>One performance goal and whether this run met it.</summary>
/// <param name="Goal">The goal as stated.</param>
/// <param name="Met">Whether the measured value meets it; null when what it needs was not measured.</param>
/// <param name="Measured">What was measured, in the goal's terms, or why nothing was.</param>
internal sealed record GoalResult(string Goal, bool? Met, string Measured)
{
    /// <summary><c>PASS</c>, <c>FAIL</c> or <c>n/a</c>.</summary>
    public string Verdict => Met switch
    {
        true => "PASS",
        false => "FAIL",
        null => "n/a",
    };
}
