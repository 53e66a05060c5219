using System.Net.Sockets;
using GitHubActionsPort.Agent.Forwarding;

namespace GitHubActionsPort.Tests;

/// <summary>Bytes, ends and resets cross the tunnel as if there were no tunnel, on each lane.</summary>
[TestFixture("raw")]
[TestFixture("grpc")]
public sealed class TunnelTransparencyTests(string lane) : TunnelFixture(lane)
{
    /// <summary>Short enough that an idle test outlives several rounds of each.</summary>
    private static readonly TimeSpan ShortTimeout = TimeSpan.FromSeconds(1);

    private readonly List<TcpTestServer> _targets = [];
    private TaskCompletionSource<(byte[] Received, bool WasReset)> _resetObserved = null!;
    private TaskCompletionSource<string> _halfCloseReceived = null!;
    private byte[] _greeting = [];

    protected override Dictionary<string, string> ExtraTargets()
    {
        _resetObserved = new(TaskCreationOptions.RunContinuationsAsynchronously);
        _halfCloseReceived = new(TaskCreationOptions.RunContinuationsAsynchronously);
        _greeting = SocketIo.RandomBytes(3 * 1024 * 1024 + 17);

        var resetter = Target(async (socket, ct) =>
        {
            // Reads a little, then resets: the client must see a reset, not a clean end.
            await socket.ReceiveAsync(new byte[1], ct);
            socket.Reset();
        });
        var observer = Target(async (socket, _) => _resetObserved.TrySetResult(await socket.ReadUntilClosedAsync()));
        var greeter = Target(async (socket, ct) =>
        {
            // Speaks first and half-closes, then still listens until the client is done.
            await socket.SendAsync(_greeting, ct);
            socket.Shutdown(SocketShutdown.Send);
            var received = await socket.ReadToEndAsync(ct);
            _halfCloseReceived.TrySetResult(SocketIo.Sha256(received));
        });

        using var closed = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        closed.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        return new Dictionary<string, string>
        {
            ["resetter"] = resetter.Address,
            ["observer"] = observer.Address,
            ["greeter"] = greeter.Address,
            // Bound but never listening: connecting is refused.
            ["refused"] = $"127.0.0.1:{((System.Net.IPEndPoint)closed.LocalEndPoint!).Port}",
        };
    }

    protected override void Configure(Dictionary<string, string?> configuration)
    {
        configuration["Broker:Rules:0:MaxConnections"] = "500";
        configuration["Broker:Transport:KeepAlivePingDelay"] = ShortTimeout.ToString();
        configuration["Broker:Transport:KeepAlivePingTimeout"] = ShortTimeout.ToString();
        configuration["Broker:Transport:IdleConnectionTimeout"] = ShortTimeout.ToString();
    }

    [OneTimeTearDown]
    public async Task StopTargetsAsync()
    {
        foreach (var target in _targets)
        {
            await target.DisposeAsync();
        }
    }

    [Test]
    public async Task RandomBytesBothWays_ArriveIntact()
    {
        await using var agent = await StartAgentAsync("echo");
        const int size = 64 * 1024 * 1024;
        var data = SocketIo.RandomBytes(size);

        using var client = await SocketIo.ConnectAsync(agent["echo"]);
        var reading = client.ReadToEndAsync();
        await client.SendAllAsync(data);
        client.Shutdown(SocketShutdown.Send);
        var echoed = await reading.DefaultTimeout();

        Assert.That(echoed, Has.Length.EqualTo(size));
        Assert.That(SocketIo.Sha256(echoed), Is.EqualTo(SocketIo.Sha256(data)));
    }

    [Test]
    public async Task ClientHalfCloses_StillReceivesWholeReply()
    {
        await using var agent = await StartAgentAsync("echo");
        var data = SocketIo.RandomBytes(5 * 1024 * 1024 + 3);

        using var client = await SocketIo.ConnectAsync(agent["echo"]);
        // Everything is sent and the write side shut before a single byte is read back.
        await client.SendAllAsync(data);
        client.Shutdown(SocketShutdown.Send);
        var echoed = await client.ReadToEndAsync().DefaultTimeout();

        Assert.That(SocketIo.Sha256(echoed), Is.EqualTo(SocketIo.Sha256(data)));
    }

    [Test]
    public async Task TargetHalfCloses_StillReceivesWholeRequest()
    {
        await using var agent = await StartAgentAsync("greeter");
        using var client = await SocketIo.ConnectAsync(agent["greeter"]);

        var greeting = await client.ReadToEndAsync().DefaultTimeout();
        Assert.That(SocketIo.Sha256(greeting), Is.EqualTo(SocketIo.Sha256(_greeting)), "the target's bytes before its FIN");

        // The target has finished sending; our direction is still open and must carry everything.
        var request = SocketIo.RandomBytes(2 * 1024 * 1024 + 5);
        await client.SendAllAsync(request);
        client.Shutdown(SocketShutdown.Send);

        Assert.That(await _halfCloseReceived.Task.DefaultTimeout(), Is.EqualTo(SocketIo.Sha256(request)));
    }

    [Test]
    public async Task TargetResets_ClientSeesReset()
    {
        await using var agent = await StartAgentAsync("resetter");
        using var client = await SocketIo.ConnectAsync(agent["resetter"]);
        await client.SendAllAsync(new byte[] { 1 });

        var (_, wasReset) = await client.ReadUntilClosedAsync().DefaultTimeout();

        Assert.That(wasReset, Is.True, "a target reset must reach the client as a reset, not a clean end of stream");
        await agent.Logs.WaitForAsync(e => e.Message.Contains("reset the connection", StringComparison.Ordinal)).DefaultTimeout();
    }

    [Test]
    public async Task ClientResets_TargetSeesReset()
    {
        await using var agent = await StartAgentAsync("observer");
        var client = await SocketIo.ConnectAsync(agent["observer"]);
        var sent = SocketIo.RandomBytes(1000);
        await client.SendAllAsync(sent);
        // Once the broker reports the tunnel open, the target is connected and our bytes are on their way.
        await Broker.Logs.WaitForAsync(e => e.EventId.Name == "TunnelOpened" && e.Message.Contains("observer", StringComparison.Ordinal)).DefaultTimeout();
        client.Reset();

        var (received, wasReset) = await _resetObserved.Task.DefaultTimeout();

        Assert.That(wasReset, Is.True, "a client reset must reach the target as a reset, not a clean end of stream");
        Assert.That(received.Length, Is.LessThanOrEqualTo(sent.Length));
    }

    [Test]
    public async Task RefusedTarget_ClosesClientPromptly_AndSaysWhy()
    {
        await using var agent = await StartAgentAsync("refused");
        using var client = await SocketIo.ConnectAsync(agent["refused"]);

        var (data, _) = await client.ReadUntilClosedAsync().DefaultTimeout();

        Assert.That(data, Is.Empty);
        var logged = await agent.Logs.WaitForAsync(e => e.Level == LogLevel.Warning && e.Message.Contains("refused", StringComparison.Ordinal)).DefaultTimeout();
        Assert.That(logged.Message, Does.Contain("target 'refused' refused the connection"));
        Assert.That(await agent.StopAsync(), Is.Zero, "a refused target is a per-connection failure; the agent keeps serving");
    }

    [Test]
    public async Task TwoHundredConcurrentConnections_AllIntact()
    {
        await using var agent = await StartAgentAsync("echo");
        const int connections = 200;

        var results = await Task.WhenAll(Enumerable.Range(0, connections).Select(async i =>
        {
            var data = SocketIo.RandomBytes(64 * 1024 + i);
            using var client = await SocketIo.ConnectAsync(agent["echo"]);
            var reading = client.ReadToEndAsync();
            await client.SendAllAsync(data);
            client.Shutdown(SocketShutdown.Send);
            var echoed = await reading;
            return SocketIo.Sha256(echoed) == SocketIo.Sha256(data);
        })).DefaultTimeout();

        Assert.That(results, Has.All.True);
        Assert.That(results, Has.Length.EqualTo(connections));
    }

    [Test]
    public async Task IdleTunnel_OutlivesKeepAliveAndIdleLimits()
    {
        var transport = new AgentTransport { KeepAlivePingDelay = ShortTimeout, KeepAlivePingTimeout = ShortTimeout };
        await using var agent = await AgentUnderTest.StartAsync(Broker.Address, ["0:echo"], AgentUnderTest.GitHubEnvironment(Issuer), transport, echo: TestContext.Progress);
        using var client = await SocketIo.ConnectAsync(agent["echo"]);
        await client.SendAllAsync(new byte[] { 42 });
        Assert.That(await client.ReadExactlyAsync(1).DefaultTimeout(), Is.EqualTo(new byte[] { 42 }));

        // Quiet for several rounds of every timer on both ends (1 s each): a tunnel must live as long as its lease.
        await Task.Delay(ShortTimeout * 4);

        await client.SendAllAsync(new byte[] { 43 });
        Assert.That(await client.ReadExactlyAsync(1).DefaultTimeout(), Is.EqualTo(new byte[] { 43 }));
    }

    private TcpTestServer Target(Func<Socket, CancellationToken, Task> handler)
    {
        var server = new TcpTestServer(handler);
        _targets.Add(server);
        return server;
    }
}
