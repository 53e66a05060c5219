namespace GitHubActionsPort.Harness.Bench;

/// <summary>How one route fared, for the report and the JSON.</summary>
/// <param name="Key">The route's key.</param>
/// <param name="Label">The route's column heading.</param>
/// <param name="Path">What its bytes cross.</param>
/// <param name="State"><c>measured</c>, <c>skipped</c> (a tool is missing) or <c>failed</c> (it did not start).</param>
/// <param name="Reason">Why it was skipped or failed; null when measured.</param>
/// <param name="Description">How it ran (processes, lane); null when it did not start.</param>
/// <param name="Failures">Scenarios it started but could not finish, each with the error.</param>
internal sealed record RouteStatus(string Key, string Label, string Path, string State, string? Reason, string? Description, IReadOnlyList<string> Failures)
{
    public const string Measured = "measured";
    public const string Skipped = "skipped";
    public const string Failed = "failed";
}
