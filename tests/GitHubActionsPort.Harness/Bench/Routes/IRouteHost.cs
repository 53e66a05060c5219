namespace GitHubActionsPort.Harness.Bench.Routes;

/// <summary>A started route: what the bench connects to and the processes behind it, all stopped on dispose.</summary>
internal interface IRouteHost : IAsyncDisposable
{
    BenchRoute Route { get; }

    /// <summary>How it runs, for the report: process ids, listener scheme, lane.</summary>
    string Description { get; }

    /// <summary>False once a process behind the route has exited, so later scenarios skip it rather than time out on it.</summary>
    bool IsAlive { get; }

    /// <summary>Warnings and errors its processes logged so far, each naming the process.</summary>
    IReadOnlyList<string> Problems();
}
