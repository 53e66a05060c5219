using System.Net;

namespace GitHubActionsPort.Harness.Bench;

/// <summary>Where a client connects to reach each bench target: the targets themselves, or the agent's forwards to them.</summary>
/// <param name="Name"><c>direct</c> or <c>tunnel</c>.</param>
/// <param name="Sink">Swallows an upload and answers with its length (<see cref="BulkProtocol.SinkAsync"/>).</param>
/// <param name="Source">Sends as many bytes as asked (<see cref="BulkProtocol.SourceAsync"/>).</param>
/// <param name="Echo">Returns every byte.</param>
internal sealed record BenchRoute(string Name, IPEndPoint Sink, IPEndPoint Source, IPEndPoint Echo);
