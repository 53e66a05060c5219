using System.Net.Sockets;
using GitHubActionsPort.Agent.Cli;
using GitHubActionsPort.Broker.DevIssuer;

namespace GitHubActionsPort.Tests.RawLane;

/// <summary>
/// Which lane a tunnel takes: the raw lane by default, warm; the gRPC lane when the raw lane cannot be reached
/// (auto) or is asked for; a lane the broker has off is refused by name at start-up rather than per connection.
/// </summary>
public sealed class LaneSelectionTests
{
    private DevIssuer _issuer = null!;
    private TcpTestServer _echo = null!;
    private BrokerUnderTest? _broker;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _issuer = await DevIssuer.StartAsync().DefaultTimeout();
        _echo = TcpTestServer.Echo();
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        await _echo.DisposeAsync();
        await _issuer.DisposeAsync();
    }

    [TearDown]
    public async Task StopBrokerAsync()
    {
        if (_broker is not null)
        {
            Assert.That(_broker.Logs.Errors, Is.Empty, "the broker logged errors");
            await _broker.DisposeAsync();
            _broker = null;
        }
    }

    [Test]
    public async Task Auto_TakesTheRawLane_OnAConnectionAuthenticatedBeforeTheClientCame()
    {
        var broker = await StartBrokerAsync();
        await using var agent = await StartAgentAsync(broker, "auto");
        using (var first = await SocketIo.ConnectAsync(agent["echo"]))
        {
            await AssertEchoesAsync(first);
        }

        // Taking a connection refills the pool: wait until the broker holds the warm ones (two, plus the first's own).
        await broker.Logs.WaitForAsync(e => e.EventId.Name == "RawLaneAuthenticated", occurrence: 3).DefaultTimeout();
        var warmPeers = broker.Logs.Entries.Where(e => e.EventId.Name == "RawLaneAuthenticated").Select(e => PeerOf(e.Message)).ToHashSet();

        using var second = await SocketIo.ConnectAsync(agent["echo"]);
        await AssertEchoesAsync(second);

        var open = await broker.Logs.WaitForAsync(e => e.EventId.Name == "RawLaneOpen", occurrence: 2).DefaultTimeout();
        Assert.That(warmPeers, Does.Contain(PeerOf(open.Message)), "the second tunnel should use a connection authenticated before it was asked for");
        Assert.That(agent.Logs.Entries.Where(e => e.EventId.Name == "TunnelOpened").Select(e => e.Message), Has.All.Contains("(raw lane)"));
    }

    [Test]
    public async Task Auto_RawLaneUnreachable_FallsBackToTheGrpcLane_AndSaysSo()
    {
        var broker = await StartBrokerAsync(("Broker:Lanes:Raw:AdvertisedPort", SocketIo.ReleasedLoopbackPort().ToString(System.Globalization.CultureInfo.InvariantCulture)));
        await using var agent = await StartAgentAsync(broker, "auto");

        using var socket = await SocketIo.ConnectAsync(agent["echo"]);
        await AssertEchoesAsync(socket);

        var unreachable = await agent.Logs.WaitForAsync(e => e.EventId.Name == "RawLaneUnreachable").DefaultTimeout();
        Assert.That(unreachable.Message, Does.Contain("cannot reach the raw lane"));
        var opened = await agent.Logs.WaitForAsync(e => e.EventId.Name == "TunnelOpened").DefaultTimeout();
        Assert.That(opened.Message, Does.Contain("(grpc lane)"));
    }

    [Test]
    public async Task RawOnly_RawLaneUnreachable_RefusesTheConnection_NamingTheCause()
    {
        var broker = await StartBrokerAsync(("Broker:Lanes:Raw:AdvertisedPort", SocketIo.ReleasedLoopbackPort().ToString(System.Globalization.CultureInfo.InvariantCulture)));
        await using var agent = await StartAgentAsync(broker, "raw");

        var received = await SocketIo.ReceivedBeforeCloseAsync(agent["echo"]).DefaultTimeout();

        Assert.That(received, Is.Empty);
        var refused = await agent.Logs.WaitForAsync(e => e.EventId.Name == "TunnelRefused").DefaultTimeout();
        Assert.That(refused.Message, Does.Contain("cannot reach the raw lane"));
        Assert.That(agent.Logs.Entries.Any(e => e.EventId.Name == "TunnelOpened"), Is.False, "--lane raw must never move a tunnel to the gRPC lane");
    }

    [Test]
    public async Task RawLaneOff_LaneRaw_ExitsBrokerUnreachable_NamingTheSetting()
    {
        var broker = await StartBrokerAsync(("Broker:Lanes:Raw:Enabled", "false"));
        Assert.That(broker.RawLaneAddress, Is.Null);

        await using var agent = AgentUnderTest.Run(broker.Address, ["0:echo"], AgentUnderTest.GitHubEnvironment(_issuer), extraArgs: ["--lane", "raw"], echo: TestContext.Progress);

        Assert.That(await agent.Exit.DefaultTimeout(), Is.EqualTo(ExitCodes.BrokerUnreachable));
        Assert.That(string.Join(Environment.NewLine, agent.Error.Lines), Does.Contain("does not offer the raw lane").And.Contain("Broker:Lanes:Raw:Enabled"));
    }

    [Test]
    public async Task RawLaneOff_Auto_UsesTheGrpcLane()
    {
        var broker = await StartBrokerAsync(("Broker:Lanes:Raw:Enabled", "false"));
        await using var agent = await StartAgentAsync(broker, "auto");

        using var socket = await SocketIo.ConnectAsync(agent["echo"]);
        await AssertEchoesAsync(socket);

        Assert.That((await agent.Logs.WaitForAsync(e => e.EventId.Name == "TunnelOpened").DefaultTimeout()).Message, Does.Contain("(grpc lane)"));
        Assert.That(agent.Logs.Entries.Any(e => e.EventId.Name == "RawLaneUnreachable"), Is.False, "a lane the broker does not offer is not tried");
    }

    [Test]
    public async Task GrpcLaneOff_LaneGrpc_ExitsBrokerUnreachable_AndAutoUsesTheRawLane()
    {
        var broker = await StartBrokerAsync(("Broker:Lanes:Grpc:Enabled", "false"));

        await using (var grpcOnly = AgentUnderTest.Run(broker.Address, ["0:echo"], AgentUnderTest.GitHubEnvironment(_issuer), extraArgs: ["--lane", "grpc"], echo: TestContext.Progress))
        {
            Assert.That(await grpcOnly.Exit.DefaultTimeout(), Is.EqualTo(ExitCodes.BrokerUnreachable));
            Assert.That(string.Join(Environment.NewLine, grpcOnly.Error.Lines), Does.Contain("raw lane only").And.Contain("Broker:Lanes:Grpc:Enabled"));
        }

        await using var agent = await StartAgentAsync(broker, "auto");
        using var socket = await SocketIo.ConnectAsync(agent["echo"]);
        await AssertEchoesAsync(socket);
        Assert.That((await agent.Logs.WaitForAsync(e => e.EventId.Name == "TunnelOpened").DefaultTimeout()).Message, Does.Contain("(raw lane)"));
    }

    [Test]
    public async Task RawLane_TunnelIsAudited_WithItsLane()
    {
        var trail = BrokerUnderTest.TempAuditPath();
        var broker = await StartBrokerAsync(("Broker:Audit:Path", trail));
        await using var agent = await StartAgentAsync(broker, "raw");
        using (var socket = await SocketIo.ConnectAsync(agent["echo"]))
        {
            await AssertEchoesAsync(socket);
            socket.Shutdown(SocketShutdown.Send);
            await socket.ReadToEndAsync().DefaultTimeout();
        }

        await broker.Logs.WaitForAsync(e => e.EventId.Name == "TunnelClosed").DefaultTimeout();
        // Stopping the broker drains the trail's queue: every record is on disk after this.
        await broker.DisposeAsync();
        _broker = null;
        var lines = await File.ReadAllLinesAsync(trail);
        var opened = lines.Single(l => l.Contains("\"tunnel.opened\"", StringComparison.Ordinal));
        Assert.That(opened, Does.Contain("\"lane\":\"raw\""));
        var closed = lines.Single(l => l.Contains("\"tunnel.closed\"", StringComparison.Ordinal));
        Assert.That(closed, Does.Contain("\"bytes_to_target\":65536").And.Contain("\"bytes_from_target\":65536").And.Contain("\"reason\":\"completed\""));
    }

    private async Task<BrokerUnderTest> StartBrokerAsync(params (string Key, string Value)[] settings)
    {
        var configuration = BrokerUnderTest.DefaultConfiguration(_issuer.Issuer, new Dictionary<string, string> { ["echo"] = _echo.Address });
        foreach (var (key, value) in settings)
        {
            configuration[key] = value;
        }

        _broker = await BrokerUnderTest.StartAsync(configuration, TestContext.Progress);
        return _broker;
    }

    private Task<AgentUnderTest> StartAgentAsync(BrokerUnderTest broker, string lane) =>
        AgentUnderTest.StartAsync(broker.Address, ["0:echo"], AgentUnderTest.GitHubEnvironment(_issuer), extraArgs: ["--lane", lane], echo: TestContext.Progress);

    private static string PeerOf(string message) => message.Split(' ').First(w => w.StartsWith("ipv4:", StringComparison.Ordinal) || w.StartsWith("ipv6:", StringComparison.Ordinal));

    private static async Task AssertEchoesAsync(Socket socket)
    {
        var data = SocketIo.RandomBytes(64 * 1024);
        await socket.SendAllAsync(data).DefaultTimeout();
        Assert.That(await socket.ReadExactlyAsync(data.Length).DefaultTimeout(), Is.EqualTo(data));
    }
}
