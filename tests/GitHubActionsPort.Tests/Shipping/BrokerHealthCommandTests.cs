using System.Net;
using System.Net.Sockets;
using GitHubActionsPort.Broker.DevIssuer;
using GitHubActionsPort.Broker.Store;
using GitHubActionsPort.Tests.Store;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using BrokerClient = GitHubActionsPort.Protocol.V1.Broker.BrokerClient;

namespace GitHubActionsPort.Tests.Shipping;

/// <summary>
/// <c>ghaport-broker health</c>, the image's health check (it has no shell or curl): the real command as a process
/// against a real broker's <c>/healthz</c>. Healthy is exit 0; a broker whose state store is unreachable, a port where
/// nothing listens and a listener that never answers are exit 1, each in one line saying which; a bad address is 2.
/// </summary>
public sealed class BrokerHealthCommandTests
{
    [Test]
    public async Task HealthyBroker_Exit0_OneLine()
    {
        await using var broker = await StartBrokerAsync();

        var (exitCode, health) = await BrokerProcess.RunToExitAsync(["health", "--url", broker.MetricsAddress!.GetLeftPart(UriPartial.Authority)]);

        Assert.That(exitCode, Is.Zero, health.Describe());
        Assert.That(health.Output.Lines, Is.EqualTo(new[] { $"healthy: {new Uri(broker.MetricsAddress, "healthz")} answered 200 ok" }));
        Assert.That(health.Error.Lines, Is.Empty);
    }

    [Test]
    public async Task StateStoreUnreachable_Exit1_NamesTheBrokersReason()
    {
        await using var issuer = await DevIssuer.StartAsync().DefaultTimeout();
        await using var memory = new MemoryBrokerStore(TimeProvider.System);
        var store = new UnreachableStore(memory);
        await using var broker = await StartBrokerAsync(issuer.Issuer, s => s.AddSingleton<IBrokerStore>(store));
        using var channel = GrpcChannel.ForAddress(broker.Address);

        store.Reachable = false;
        // A session needs the store: its failure is what tells the broker the store is gone.
        var refused = Assert.ThrowsAsync<RpcException>(() => RawSession.OpenAsync(new BrokerClient(channel), issuer.MintToken("ghaport"), ["echo"]));
        Assert.That(refused!.StatusCode, Is.EqualTo(StatusCode.Unavailable));

        var (exitCode, health) = await BrokerProcess.RunToExitAsync(["health", "--url", broker.MetricsAddress!.ToString()]);

        Assert.That(exitCode, Is.EqualTo(1), health.Describe());
        Assert.That(health.Error.Lines, Is.EqualTo(new[] { $"ghaport-broker: unhealthy: {new Uri(broker.MetricsAddress, "healthz")} answered 503 state store unreachable" }));
        Assert.That(health.Output.Lines, Is.Empty);
    }

    [Test]
    public async Task NothingListening_Exit1_SaysNothingAnswers()
    {
        // A port the OS gave and took back: nothing listens there now.
        int port;
        using (var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            port = ((IPEndPoint)socket.LocalEndPoint!).Port;
        }

        var (exitCode, health) = await BrokerProcess.RunToExitAsync(["health", "--url", $"http://127.0.0.1:{port}"]);

        Assert.That(exitCode, Is.EqualTo(1), health.Describe());
        Assert.That(health.Error.Lines, Has.Exactly(1).StartsWith($"ghaport-broker: unhealthy: nothing answers at http://127.0.0.1:{port}/healthz ("));
    }

    [Test]
    public async Task ListenerThatNeverAnswers_Exit1_AtTheTimeout()
    {
        // Accepts and reads, never answers: the command's own bound ends the wait, not the container runtime's.
        await using var silent = new TcpTestServer(async (socket, stopping) =>
        {
            var buffer = new byte[1024];
            try
            {
                while (await socket.ReceiveAsync(buffer, stopping) > 0)
                {
                }
            }
            catch (OperationCanceledException)
            {
            }
        });

        var (exitCode, health) = await BrokerProcess.RunToExitAsync(["health", "--url", $"http://{silent.Address}"]);

        Assert.That(exitCode, Is.EqualTo(1), health.Describe());
        Assert.That(health.Error.Lines, Is.EqualTo(new[] { $"ghaport-broker: unhealthy: no answer from http://{silent.Address}/healthz within 5 s" }));
    }

    [Test]
    public async Task NoUrl_ReadsBrokerMetricsUrlFromTheConfiguration_WildcardDialledAsLoopback()
    {
        // As in the image: metrics on every interface (container-defaults.json says 0.0.0.0:9471); the check runs
        // inside the container and dials loopback.
        await using var broker = await StartBrokerAsync(metricsUrl: "http://0.0.0.0:0");
        var port = broker.MetricsAddress!.Port;
        var config = Path.Combine(Path.GetTempPath(), $"ghaport-health-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(config, $$"""{ "Broker": { "Metrics": { "Url": "http://0.0.0.0:{{port}}" } } }""");
        try
        {
            var (exitCode, health) = await BrokerProcess.RunToExitAsync(["health", "--config", config], new Dictionary<string, string?> { ["Broker__Metrics__Url"] = null });

            Assert.That(exitCode, Is.Zero, health.Describe());
            Assert.That(health.Output.Lines, Is.EqualTo(new[] { $"healthy: http://127.0.0.1:{port}/healthz answered 200 ok" }));

            // The environment outranks the file, as it does for the broker.
            var (envExit, fromEnv) = await BrokerProcess.RunToExitAsync(["health", "--config", config], new Dictionary<string, string?> { ["Broker__Metrics__Url"] = "http://127.0.0.1:1" });
            Assert.That(envExit, Is.EqualTo(1), fromEnv.Describe());
            Assert.That(fromEnv.Error.Lines, Has.Exactly(1).StartsWith("ghaport-broker: unhealthy: nothing answers at http://127.0.0.1:1/healthz"));
        }
        finally
        {
            File.Delete(config);
        }
    }

    [TestCase("ftp://127.0.0.1:9471")]
    [TestCase("not a url")]
    [TestCase("http://user:secret@127.0.0.1:9471")]
    public async Task BadUrl_Exit2_NamesTheFlag(string url)
    {
        var (exitCode, health) = await BrokerProcess.RunToExitAsync(["health", "--url", url]);

        Assert.That(exitCode, Is.EqualTo(2), health.Describe());
        Assert.That(health.Error.Lines, Has.Exactly(1).StartsWith($"ghaport-broker: --url '{url}' is not http://HOST:PORT"));
    }

    [Test]
    public async Task MetricsDisabled_Exit2_SaysNothingServesHealthz()
    {
        var (exitCode, health) = await BrokerProcess.RunToExitAsync(["health"], new Dictionary<string, string?> { ["Broker__Metrics__Enabled"] = "false" });

        Assert.That(exitCode, Is.EqualTo(2), health.Describe());
        Assert.That(health.Error.Lines, Has.Exactly(1).EqualTo("ghaport-broker: Broker:Metrics:Enabled is false: nothing serves /healthz (enable it, or give --url)"));
    }

    private static async Task<BrokerUnderTest> StartBrokerAsync(string? issuer = null, Action<IServiceCollection>? services = null, string? metricsUrl = null)
    {
        var configuration = BrokerUnderTest.DefaultConfiguration(issuer ?? "https://issuer.invalid", new Dictionary<string, string> { ["echo"] = "127.0.0.1:9" });
        if (metricsUrl is not null)
        {
            configuration["Broker:Metrics:Url"] = metricsUrl;
        }

        return await BrokerUnderTest.StartAsync(configuration, TestContext.Progress, services: services);
    }
}
