using System.Net;

namespace GitHubActionsPort.Harness.Bench.Routes;

/// <summary>Where a client connects to reach each bench target over one route: the targets themselves, the first socat relay, or the agent's forwards.</summary>
/// <param name="Spec">Which route.</param>
/// <param name="Sink">Swallows an upload and answers with its length (<see cref="Scenarios.BulkProtocol.SinkAsync"/>).</param>
/// <param name="Source">Sends as many bytes as asked (<see cref="Scenarios.BulkProtocol.SourceAsync"/>).</param>
/// <param name="Echo">Returns every byte.</param>
internal sealed record BenchRoute(RouteSpec Spec, IPEndPoint Sink, IPEndPoint Source, IPEndPoint Echo)
{
    /// <summary>An echo target of the route's own for idle tunnels; null for routes without a broker to weigh.</summary>
    public IPEndPoint? Idle { get; init; }

    /// <summary>The bench's PostgreSQL; null when it is not running.</summary>
    public IPEndPoint? Postgres { get; init; }

    /// <summary>The processes behind the route; null for direct, which has none.</summary>
    public RouteProcesses? Processes { get; init; }

    public string Key => Spec.Key;
}
