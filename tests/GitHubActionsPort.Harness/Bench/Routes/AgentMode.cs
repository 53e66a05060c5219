namespace GitHubActionsPort.Harness.Bench.Routes;

/// <summary>How the bench runs the agent (<c>--agent</c>).</summary>
internal enum AgentMode
{
    /// <summary><c>dotnet ghaport.dll</c> as a child process, its own runtime, as on a runner.</summary>
    Process,

    /// <summary>The same agent code inside the harness process (easier to profile; shares the harness's CPU and GC).</summary>
    InProcess,
}
