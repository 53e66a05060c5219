using System.Net;
using GitHubActionsPort.Harness.Output;

namespace GitHubActionsPort.Harness.Bench.Routes;

/// <summary>
/// The peer baseline: two socat relays chained in front of each target, the same two userspace hops a tunnel has
/// (agent, broker), with none of its work (no framing, no encryption, no lease). The first relay of each chain
/// stands where the agent does, the second where the broker does.
/// </summary>
internal sealed class SocatRoute : IRouteHost
{
    public const string NotFound = "socat not found: apt-get install socat";

    private readonly Teardown _teardown;
    private readonly IReadOnlyList<SocatRelay> _relays;

    private SocatRoute(Teardown teardown, IReadOnlyList<SocatRelay> relays, BenchRoute route)
    {
        _teardown = teardown;
        _relays = relays;
        Route = route;
    }

    public BenchRoute Route { get; }

    public string Description => $"socat -b 131072, two relays per target (pids {string.Join(", ", _relays.Select(r => r.Id))})";

    public bool IsAlive => _relays.All(r => !r.HasExited);

    public static async Task<SocatRoute> StartAsync(BenchTargets targets, Narrator narrator)
    {
        ArgumentNullException.ThrowIfNull(targets);
        var socat = SocatRelay.Find() ?? throw new RouteUnavailableException(NotFound, missingTool: true);
        var teardown = new Teardown(narrator, narrate: false);
        try
        {
            var runnerSide = new List<SocatRelay>();
            var serverSide = new List<SocatRelay>();
            async Task<IPEndPoint> ChainAsync(string name, IPEndPoint target)
            {
                var second = teardown.Add($"socat to {name}", await SocatRelay.StartAsync(socat, target));
                var first = teardown.Add($"socat to socat to {name}", await SocatRelay.StartAsync(socat, second.EndPoint));
                serverSide.Add(second);
                runnerSide.Add(first);
                return first.EndPoint;
            }

            var direct = targets.Direct;
            var route = new BenchRoute(
                RouteSpec.Socat,
                await ChainAsync(BenchTargets.SinkName, direct.Sink),
                await ChainAsync(BenchTargets.SourceName, direct.Source),
                await ChainAsync(BenchTargets.EchoName, direct.Echo))
            {
                Postgres = direct.Postgres is { } postgres ? await ChainAsync(BenchTargets.PostgresName, postgres) : null,
                Processes = new RouteProcesses(runnerSide.Select(r => r.Id).ToList(), serverSide.Select(r => r.Id).ToList(), Forks: true),
            };
            return new SocatRoute(teardown, [.. runnerSide, .. serverSide], route);
        }
        catch (Exception ex) when (ex is not RouteUnavailableException)
        {
            await teardown.DisposeAsync();
            throw new RouteUnavailableException($"socat did not start: {ex.Message}", inner: ex);
        }
    }

    public IReadOnlyList<string> Problems() => _relays.SelectMany(r => r.Problems()).Select(p => $"socat: {p}").ToList();

    public ValueTask DisposeAsync() => _teardown.DisposeAsync();
}
