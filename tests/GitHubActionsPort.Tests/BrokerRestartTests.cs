using System.Net;
using System.Net.Sockets;
using GitHubActionsPort.Broker.DevIssuer;

namespace GitHubActionsPort.Tests;

/// <summary>
/// A broker that goes away mid-session (restart, lost connection): live tunnels end with a reason, a connection made
/// while it is away is closed at once, and once it is back the same agent reopens its session and serves again.
/// </summary>
public sealed class BrokerRestartTests
{
    /// <summary>How soon a local client must hear that the broker is away: loopback refuses a connect at once.</summary>
    private static readonly TimeSpan PromptClose = TimeSpan.FromSeconds(5);

    private DevIssuer _issuer = null!;
    private TcpTestServer _echo = null!;
    private Dictionary<string, string?> _configuration = null!;
    private readonly List<BrokerUnderTest> _brokers = [];
    private readonly List<string> _tokenFiles = [];

    [SetUp]
    public async Task StartIssuerAndTargetAsync()
    {
        _issuer = await DevIssuer.StartAsync().DefaultTimeout();
        _echo = TcpTestServer.Echo();
        _configuration = BrokerUnderTest.DefaultConfiguration(_issuer.Issuer, new Dictionary<string, string> { ["echo"] = _echo.Address });
        // No drain: these tests are of an agent whose broker went away at once (BrokerDrainTests has the drain).
        _configuration["Broker:Transport:DrainTimeout"] = "0";
    }

    [TearDown]
    public async Task StopAllAsync()
    {
        foreach (var broker in _brokers)
        {
            await broker.DisposeAsync();
        }

        _brokers.Clear();
        await _echo.DisposeAsync();
        await _issuer.DisposeAsync();
        foreach (var file in _tokenFiles)
        {
            File.Delete(file);
        }

        _tokenFiles.Clear();
    }

    [Test]
    public async Task BrokerRestarted_LiveTunnelIsReset_AndNewConnectionsWorkOnceItIsBack()
    {
        var broker = await StartBrokerAsync();
        await using var agent = await AgentUnderTest.StartAsync(broker.Address, ["0:echo"], AgentUnderTest.GitHubEnvironment(_issuer), echo: TestContext.Progress);
        var opened = await agent.Logs.WaitForAsync(e => e.EventId.Name == "SessionOpened").DefaultTimeout();
        using var live = await SocketIo.ConnectAsync(agent["echo"]);
        await AssertEchoesAsync(live, 1);

        await StopBrokerAsync(broker);

        var (_, wasReset) = await live.ReadUntilClosedAsync().DefaultTimeout();
        Assert.That(wasReset, Is.True, "a tunnel cut by the broker going away must not look like a clean end of stream");
        var failed = await agent.Logs.WaitForAsync(e => e.EventId.Name == "TunnelFailed").DefaultTimeout();
        Assert.That(failed.Message, Does.Contain("the broker ended the tunnel"));

        // While the broker is away, a new local client is closed at once, and the agent says why.
        Assert.That(await SocketIo.ReceivedBeforeCloseAsync(agent["echo"]).WithTimeout(PromptClose), Is.Empty);

        var refused = await agent.Logs.WaitForAsync(e => e.EventId.Name == "TunnelRefused").DefaultTimeout();
        Assert.That(refused.Message, Does.Contain("cannot reach the broker"));

        // Back at the same address, knowing no lease: the first new connection reopens the session and goes through.
        var restarted = await StartBrokerAsync(broker.Address);
        using (var afterRestart = await SocketIo.ConnectAsync(agent["echo"]))
        {
            await AssertEchoesAsync(afterRestart, 2);
        }

        var reopened = await agent.Logs.WaitForAsync(e => e.EventId.Name == "SessionReopened").DefaultTimeout();
        Assert.That(reopened.Message, Does.Contain(LeaseIdIn(opened.Message)));
        await restarted.Logs.WaitForAsync(e => e.EventId.Name == "SessionGranted").DefaultTimeout();
        Assert.That(agent.Exit.IsCompleted, Is.False, "the agent keeps serving across the restart");
        Assert.That(agent.Logs.Errors, Is.Empty);
        Assert.That(restarted.Logs.Errors, Is.Empty);
    }

    [Test]
    public async Task ConnectionToBrokerCut_LiveTunnelIsReset_AndAgentSaysTheConnectionWasLost()
    {
        var broker = await StartBrokerAsync();

        // The agent reaches the broker through a relay; stopping the relay cuts the connection, as a network would.
        // The relay carries the gRPC channel only, so the tunnel must take that lane.
        var relay = new TcpTestServer((client, ct) => RelayAsync(client, broker.Address, ct));
        await using var agent = await AgentUnderTest.StartAsync(
            new Uri($"http://127.0.0.1:{relay.EndPoint.Port}"), ["0:echo"], AgentUnderTest.GitHubEnvironment(_issuer), extraArgs: ["--lane", "grpc"], echo: TestContext.Progress);
        using var live = await SocketIo.ConnectAsync(agent["echo"]);
        await AssertEchoesAsync(live, 1);

        await relay.DisposeAsync();

        var (_, wasReset) = await live.ReadUntilClosedAsync().DefaultTimeout();
        Assert.That(wasReset, Is.True, "a tunnel cut with its connection must not look like a clean end of stream");
        var failed = await agent.Logs.WaitForAsync(e => e.EventId.Name == "TunnelFailed").DefaultTimeout();
        Assert.That(failed.Message, Does.Contain("the connection to the broker was lost"));

        Assert.That(await SocketIo.ReceivedBeforeCloseAsync(agent["echo"]).WithTimeout(PromptClose), Is.Empty);
        var refused = await agent.Logs.WaitForAsync(e => e.EventId.Name == "TunnelRefused").DefaultTimeout();
        Assert.That(refused.Message, Does.Contain("cannot reach the broker"));
        Assert.That(agent.Logs.Errors, Is.Empty);
        Assert.That(broker.Logs.Errors, Is.Empty);
    }

    [Test]
    public async Task BrokerRestartedBetweenRenewals_RenewalOpensANewSession_AndKeepsRenewingIt()
    {
        var broker = await StartBrokerAsync();
        await using var agent = await AgentUnderTest.StartAsync(
            broker.Address, ["0:echo"], AgentUnderTest.GitHubEnvironment(_issuer), extraArgs: ["--ttl", "00:00:04"], echo: TestContext.Progress);
        var opened = await agent.Logs.WaitForAsync(e => e.EventId.Name == "SessionOpened").DefaultTimeout();
        await StopBrokerAsync(broker);
        await StartBrokerAsync(broker.Address);

        // No connection asks: the renewal due at two thirds of the lease finds it gone and opens a new session.
        var reopened = await agent.Logs.WaitForAsync(e => e.EventId.Name == "SessionReopened").DefaultTimeout();
        Assert.That(reopened.Message, Does.Contain(LeaseIdIn(opened.Message)));
        var newLeaseId = LeaseIdIn(reopened.Message);
        Assert.That(newLeaseId, Is.Not.EqualTo(LeaseIdIn(opened.Message)));
        await agent.Logs.WaitForAsync(e => e.EventId.Name == "LeaseRenewed" && e.Message.Contains(newLeaseId, StringComparison.Ordinal)).DefaultTimeout();

        using var client = await SocketIo.ConnectAsync(agent["echo"]);
        await AssertEchoesAsync(client, 3);
        Assert.That(agent.Exit.IsCompleted, Is.False);
        Assert.That(agent.Logs.Errors, Is.Empty);
    }

    [Test]
    public async Task ManyConnectionsAfterRestart_ShareOneNewSession_AndAllGoThrough()
    {
        var broker = await StartBrokerAsync();
        await using var agent = await AgentUnderTest.StartAsync(broker.Address, ["0:echo"], AgentUnderTest.GitHubEnvironment(_issuer), echo: TestContext.Progress);
        await StopBrokerAsync(broker);
        var restarted = await StartBrokerAsync(broker.Address);

        // Each finds the lease unknown; the first to ask opens the new session, the rest wait for it or find it there.
        var clients = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => SocketIo.ConnectAsync(agent["echo"])));
        try
        {
            await Task.WhenAll(clients.Select((client, i) => AssertEchoesAsync(client, (byte)i)));
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }

        await agent.Logs.WaitForAsync(e => e.EventId.Name == "SessionReopened").DefaultTimeout();
        Assert.That(agent.Logs.Entries.Count(e => e.EventId.Name == "LeaseLost"), Is.EqualTo(1));
        Assert.That(agent.Logs.Entries.Count(e => e.EventId.Name == "SessionReopened"), Is.EqualTo(1));
        Assert.That(restarted.Logs.Entries.Count(e => e.EventId.Name == "SessionGranted"), Is.EqualTo(1));
        Assert.That(agent.Logs.Errors, Is.Empty);
    }

    [Test]
    public async Task TokenFromFile_CannotReopenAfterRestart_ConnectionsAreRefusedWithTheReason()
    {
        var broker = await StartBrokerAsync();
        await using var agent = await AgentUnderTest.StartAsync(
            broker.Address, ["0:echo"], new Dictionary<string, string?>(), extraArgs: ["--id-token-file", TokenFile()], echo: TestContext.Progress);
        await StopBrokerAsync(broker);
        await StartBrokerAsync(broker.Address);

        Assert.That(await SocketIo.ReceivedBeforeCloseAsync(agent["echo"]).WithTimeout(PromptClose), Is.Empty);
        var cannot = await agent.Logs.WaitForAsync(e => e.EventId.Name == "SessionCannotReopen").DefaultTimeout();
        Assert.That(cannot.Level, Is.EqualTo(LogLevel.Error));
        Assert.That(cannot.Message, Does.Contain("file or variable"));
        var refused = await agent.Logs.WaitForAsync(e => e.EventId.Name == "TunnelRefused").DefaultTimeout();
        Assert.That(refused.Message, Does.Contain("no longer known to the broker").And.Contain("fresh id-token"));

        // Said once; later connections are refused for the same reason without asking again.
        Assert.That(await SocketIo.ReceivedBeforeCloseAsync(agent["echo"]).WithTimeout(PromptClose), Is.Empty);
        var refusedAgain = await agent.Logs.WaitForAsync(e => e.EventId.Name == "TunnelRefused", occurrence: 2).DefaultTimeout();
        Assert.That(refusedAgain.Message, Does.Contain("fresh id-token"));
        Assert.That(agent.Logs.Entries.Count(e => e.EventId.Name == "SessionCannotReopen"), Is.EqualTo(1));
        Assert.That(agent.Exit.IsCompleted, Is.False, "the agent keeps its forwards until the lease would have ended");
    }

    [Test]
    public async Task RestartedBrokerWhosePolicyNowDenies_ConnectionsAreRefusedWithItsReason()
    {
        var broker = await StartBrokerAsync();
        await using var agent = await AgentUnderTest.StartAsync(broker.Address, ["0:echo"], AgentUnderTest.GitHubEnvironment(_issuer), echo: TestContext.Progress);
        await StopBrokerAsync(broker);
        _configuration["Broker:Rules:0:Claims:repository"] = "acme/other";
        await StartBrokerAsync(broker.Address);

        Assert.That(await SocketIo.ReceivedBeforeCloseAsync(agent["echo"]).WithTimeout(TaskTimeouts.Default), Is.Empty);
        var refusedByPolicy = await agent.Logs.WaitForAsync(e => e.EventId.Name == "SessionReopenRefused").DefaultTimeout();
        Assert.That(refusedByPolicy.Message, Does.Contain("denied"));
        var refused = await agent.Logs.WaitForAsync(e => e.EventId.Name == "TunnelRefused").DefaultTimeout();
        Assert.That(refused.Message, Does.Contain("denied"));

        Assert.That(await SocketIo.ReceivedBeforeCloseAsync(agent["echo"]).WithTimeout(PromptClose), Is.Empty);
        await agent.Logs.WaitForAsync(e => e.EventId.Name == "TunnelRefused", occurrence: 2).DefaultTimeout();
        Assert.That(agent.Logs.Entries.Count(e => e.EventId.Name == "SessionReopenRefused"), Is.EqualTo(1));
    }

    private async Task<BrokerUnderTest> StartBrokerAsync(Uri? at = null)
    {
        var broker = await BrokerUnderTest.StartAsync(_configuration, TestContext.Progress, at);
        _brokers.Add(broker);
        return broker;
    }

    private async Task StopBrokerAsync(BrokerUnderTest broker)
    {
        _brokers.Remove(broker);
        await broker.DisposeAsync().AsTask().WithTimeout(TimeSpan.FromSeconds(10));
    }

    private string TokenFile()
    {
        var file = Path.GetTempFileName();
        File.WriteAllText(file, _issuer.MintToken("ghaport"));
        _tokenFiles.Add(file);
        return file;
    }

    /// <summary>Relays one connection to <paramref name="broker"/> until either side ends it; then resets both.</summary>
    private static async Task RelayAsync(Socket client, Uri broker, CancellationToken cancellationToken)
    {
        using var upstream = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await upstream.ConnectAsync(new IPEndPoint(IPAddress.Loopback, broker.Port), cancellationToken);
            await Task.WhenAny(PumpAsync(client, upstream, cancellationToken), PumpAsync(upstream, client, cancellationToken));
        }
        finally
        {
            client.Reset();
            upstream.Reset();
        }

        static async Task PumpAsync(Socket from, Socket to, CancellationToken cancellationToken)
        {
            var buffer = new byte[64 * 1024];
            try
            {
                int read;
                while ((read = await from.ReceiveAsync(buffer, cancellationToken)) > 0)
                {
                    await to.SendAsync(buffer.AsMemory(0, read), cancellationToken);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException)
            {
                // Cut: the caller resets both sides.
            }
        }
    }

    private static async Task AssertEchoesAsync(Socket client, byte value)
    {
        await client.SendAllAsync(new[] { value });
        Assert.That(await client.ReadExactlyAsync(1).DefaultTimeout(), Is.EqualTo(new[] { value }));
    }

    private static string LeaseIdIn(string message) => message.Split(' ').First(w => w.StartsWith("lse_", StringComparison.Ordinal));
}
