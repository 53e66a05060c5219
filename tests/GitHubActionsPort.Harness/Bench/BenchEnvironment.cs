using GitHubActionsPort.Broker.DevIssuer;
using GitHubActionsPort.Harness.Output;

namespace GitHubActionsPort.Harness.Bench;

/// <summary>
/// Everything the bench measures against: a dev issuer, three targets (sink, source, echo), an in-process broker
/// and an agent forwarding to each target. <see cref="Direct"/> and <see cref="Tunnel"/> reach the same three
/// targets, so the only difference between the two is the tunnel.
/// </summary>
internal sealed class BenchEnvironment : IAsyncDisposable
{
    private const string SinkTarget = "bench-sink";
    private const string SourceTarget = "bench-source";
    private const string EchoTarget = "bench-echo";

    private readonly Teardown _teardown;
    private readonly BrokerUnderTest _broker;
    private readonly IReadOnlyList<TcpTestServer> _targets;

    private BenchEnvironment(Teardown teardown, BrokerUnderTest broker, IReadOnlyList<TcpTestServer> targets, TunnelAgent agent, BenchRoute direct, BenchRoute tunnel)
    {
        _teardown = teardown;
        _broker = broker;
        _targets = targets;
        Agent = agent;
        Direct = direct;
        Tunnel = tunnel;
    }

    public TunnelAgent Agent { get; }

    public BenchRoute Direct { get; }

    public BenchRoute Tunnel { get; }

    public static async Task<BenchEnvironment> StartAsync(AgentMode mode, Narrator narrator, CancellationToken stopping)
    {
        var teardown = new Teardown(narrator, narrate: false);
        try
        {
            var issuer = teardown.Add("issuer", await DevIssuer.StartAsync(cancellationToken: stopping).DefaultTimeout());
            var sink = teardown.Add("sink target", new TcpTestServer(BulkProtocol.SinkAsync));
            var source = teardown.Add("source target", new TcpTestServer(BulkProtocol.SourceAsync));
            var echo = teardown.Add("echo target", TcpTestServer.Echo());
            var targets = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                [SinkTarget] = sink.Address,
                [SourceTarget] = source.Address,
                [EchoTarget] = echo.Address,
            };
            var broker = teardown.Add("broker", await BrokerUnderTest.StartAsync(BrokerUnderTest.DefaultConfiguration(issuer.Issuer, targets)));
            var agent = teardown.Add("agent", await TunnelAgent.StartAsync(mode, broker.Address, targets.Keys.ToList(), issuer));

            var direct = new BenchRoute("direct", sink.EndPoint, source.EndPoint, echo.EndPoint);
            var tunnel = new BenchRoute("tunnel", agent.Forwards[SinkTarget], agent.Forwards[SourceTarget], agent.Forwards[EchoTarget]);
            return new BenchEnvironment(teardown, broker, [sink, source, echo], agent, direct, tunnel);
        }
        catch
        {
            await teardown.DisposeAsync();
            throw;
        }
    }

    /// <summary>What went wrong on the way, though no scenario failed: broker errors, target failures, agent warnings.</summary>
    public IReadOnlyList<string> Problems() =>
    [
        .. _broker.Logs.Errors.Select(e => $"broker: {e}"),
        .. _broker.Logs.Entries.Where(e => e.Level == LogLevel.Warning).Select(e => $"broker: {e}"),
        .. _targets.SelectMany(t => t.HandlerErrors).Select(e => $"target: {e.GetType().Name}: {e.Message}"),
        .. Agent.Problems().Select(p => $"agent: {p}"),
    ];

    public ValueTask DisposeAsync() => _teardown.DisposeAsync();
}
