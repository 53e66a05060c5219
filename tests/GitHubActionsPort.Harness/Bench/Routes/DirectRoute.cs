namespace GitHubActionsPort.Harness.Bench.Routes;

/// <summary>Client straight to the targets: the baseline every ratio is taken against.</summary>
internal sealed class DirectRoute(BenchTargets targets) : IRouteHost
{
    public BenchRoute Route { get; } = targets.Direct;

    public string Description => "loopback TCP, nothing in between";

    public bool IsAlive => true;

    public IReadOnlyList<string> Problems() => [];

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
