namespace GitHubActionsPort.Harness.Bench;

/// <summary>One performance goal and whether this run met it.</summary>
/// <param name="Goal">The goal as stated.</param>
/// <param name="Met">Whether the measured value meets it.</param>
/// <param name="Measured">What was measured, in the goal's terms.</param>
internal sealed record GoalResult(string Goal, bool Met, string Measured);
