namespace GitHubActionsPort.Harness.Bench.Routes;

/// <summary>
/// A route could not be started. The bench reports it and measures the other routes: a missing tool is a skip
/// (<paramref name="missingTool"/>), anything else a failure.
/// </summary>
internal sealed class RouteUnavailableException(string message, bool missingTool = false, Exception? inner = null) : Exception(message, inner)
{
    public bool MissingTool { get; } = missingTool;
}
