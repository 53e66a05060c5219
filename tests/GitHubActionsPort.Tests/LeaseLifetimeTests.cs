using GitHubActionsPort.Agent.Cli;

namespace GitHubActionsPort.Tests;

/// <summary>A lease is time-boxed: at its end every tunnel ends and the agent says so.</summary>
public sealed class LeaseLifetimeTests : TunnelFixture
{
    [Test]
    public async Task LeaseExpires_LiveTunnelIsReset_AndAgentExitsWithLeaseEnded()
    {
        await using var agent = await AgentUnderTest.StartAsync(
            Broker.Address, ["0:echo"], AgentUnderTest.GitHubEnvironment(Issuer), extraArgs: ["--ttl", "00:00:02"], echo: TestContext.Progress);
        using var client = await SocketIo.ConnectAsync(agent["echo"]);
        await client.SendAllAsync(new byte[] { 7 });
        Assert.That(await client.ReadExactlyAsync(1).DefaultTimeout(), Is.EqualTo(new byte[] { 7 }));

        // The tunnel stays open and quiet; the lease's end, not the client, closes it.
        var (_, wasReset) = await client.ReadUntilClosedAsync().DefaultTimeout();
        var exitCode = await agent.Exit.DefaultTimeout();

        Assert.That(wasReset, Is.True, "a tunnel cut by the lease's end must not look like a clean end of stream");
        Assert.That(exitCode, Is.EqualTo(ExitCodes.LeaseEnded));
        Assert.That(agent.Error.Lines, Has.Some.Contains("ended at").And.Contains("open a new session"));
        await Broker.Logs.WaitForAsync(e => e.EventId.Name == "TunnelClosed" && e.Message.Contains("Canceled", StringComparison.Ordinal)).DefaultTimeout();
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
}
