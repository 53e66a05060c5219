namespace GitHubActionsPort.Harness.Demo;

/// <summary>The lease the demo's agent was granted (null when the broker's log names none) and whether the agent closed it at the broker.</summary>
internal sealed record LeaseOutcome(string? Id, bool Closed);
