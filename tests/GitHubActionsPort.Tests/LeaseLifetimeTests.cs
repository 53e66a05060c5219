using System.Net.Sockets;
using GitHubActionsPort.Agent.Cli;

namespace GitHubActionsPort.Tests;

/// <summary>A lease is time-boxed: at its end every tunnel ends and the agent says so; renewal keeps it going.</summary>
public sealed class LeaseLifetimeTests : TunnelFixture
{
    [Test]
    public async Task LeaseExpires_BusyTunnelIsCut_AndAgentExitsWithLeaseEnded()
    {
        // A token from a file cannot be renewed, so this lease ends at its TTL.
        await using var agent = await AgentUnderTest.StartAsync(
            Broker.Address, ["0:echo"], new Dictionary<string, string?>(), extraArgs: ["--ttl", "00:00:02", "--id-token-file", TokenFile(Issuer.MintToken("ghaport"))], echo: TestContext.Progress);
        await agent.Logs.WaitForAsync(e => e.EventId.Name == "LeaseCannotRenew").DefaultTimeout();
        using var client = await SocketIo.ConnectAsync(agent["echo"]);

        // Keep the tunnel busy, echoing chunk after chunk, until the lease's end cuts it.
        var chunk = SocketIo.RandomBytes(16 * 1024);
        var echoed = 0L;
        var wasReset = false;
        while (!wasReset)
        {
            try
            {
                await client.SendAllAsync(chunk);
                var back = await client.ReadExactlyAsync(chunk.Length).DefaultTimeout();
                echoed += back.Length;
            }
            catch (Exception ex) when (ex is SocketException or EndOfStreamException)
            {
                wasReset = ex is SocketException { SocketErrorCode: SocketError.ConnectionReset or SocketError.ConnectionAborted or SocketError.Shutdown };
                break;
            }
        }

        var exitCode = await agent.Exit.DefaultTimeout();

        Assert.That(echoed, Is.GreaterThan(0), "the tunnel carried data before the lease ended");
        Assert.That(wasReset, Is.True, "a tunnel cut by the lease's end must not look like a clean end of stream");
        Assert.That(exitCode, Is.EqualTo(ExitCodes.LeaseEnded));
        Assert.That(agent.Error.Lines, Has.Some.Contains("expired at").And.Contains("open a new session"));
        var failed = await agent.Logs.WaitForAsync(e => e.EventId.Name == "TunnelFailed").DefaultTimeout();
        Assert.That(failed.Message, Does.Contain("expired"));
    }

    [Test]
    public async Task Renewal_KeepsALiveTunnelPastTheFirstExpiry()
    {
        // From GitHub Actions' token endpoint the agent can fetch fresh id-tokens, so it renews before expiry.
        await using var agent = await AgentUnderTest.StartAsync(
            Broker.Address, ["0:echo"], AgentUnderTest.GitHubEnvironment(Issuer), extraArgs: ["--ttl", "00:00:03"], echo: TestContext.Progress);
        using var client = await SocketIo.ConnectAsync(agent["echo"]);
        await client.SendAllAsync(new byte[] { 1 });
        Assert.That(await client.ReadExactlyAsync(1).DefaultTimeout(), Is.EqualTo(new byte[] { 1 }));

        // Renewals come at two thirds of each 3 s lease; after the second, the first expiry is behind us.
        await agent.Logs.WaitForAsync(e => e.EventId.Name == "LeaseRenewed", occurrence: 2).DefaultTimeout();

        await client.SendAllAsync(new byte[] { 2 });
        Assert.That(await client.ReadExactlyAsync(1).DefaultTimeout(), Is.EqualTo(new byte[] { 2 }));
        Assert.That(agent.Exit.IsCompleted, Is.False);
    }

    [Test]
    public async Task RequestedTtl_IsGranted_WhenShorterThanDefault()
    {
        await using var agent = await AgentUnderTest.StartAsync(
            Broker.Address, ["0:echo"], AgentUnderTest.GitHubEnvironment(Issuer), extraArgs: ["--ttl", "00:05:00"], echo: TestContext.Progress);

        var opened = await agent.Logs.WaitForAsync(e => e.EventId.Name == "SessionOpened").DefaultTimeout();

        Assert.That(opened.Message, Does.Contain("lease lse_"));
        var expiresAt = DateTimeOffset.Parse(opened.Message.Split(" until ")[1].Split(',')[0], System.Globalization.CultureInfo.InvariantCulture);
        Assert.That(expiresAt - DateTimeOffset.UtcNow, Is.InRange(TimeSpan.FromMinutes(4), TimeSpan.FromMinutes(5.1)));
    }

    [Test]
    public async Task StoppedAgent_ClosesItsSessionAtTheBroker()
    {
        var agent = await AgentUnderTest.StartAsync(Broker.Address, ["0:echo"], AgentUnderTest.GitHubEnvironment(Issuer), echo: TestContext.Progress);
        var opened = await agent.Logs.WaitForAsync(e => e.EventId.Name == "SessionOpened").DefaultTimeout();
        var leaseId = opened.Message.Split(' ').First(w => w.StartsWith("lse_", StringComparison.Ordinal));

        Assert.That(await agent.StopAsync(), Is.Zero);
        await agent.DisposeAsync();

        await Broker.Logs.WaitForAsync(e => e.EventId.Name == "SessionClosed" && e.Message.Contains(leaseId, StringComparison.Ordinal)).DefaultTimeout();
    }
}
