using GitHubActionsPort.Broker.DevIssuer;

namespace GitHubActionsPort.Tests;

/// <summary>
/// A broker that stops with no drain (<c>Broker:Transport:DrainTimeout</c> 0) ends its tunnels at once and says why,
/// instead of leaving them to a shutdown timeout.
/// </summary>
public sealed class BrokerShutdownTests
{
    [Test]
    public async Task BrokerStops_LiveTunnelIsReset_AndAgentSaysTheBrokerIsStopping()
    {
        await using var issuer = await DevIssuer.StartAsync().DefaultTimeout();
        await using var echo = TcpTestServer.Echo();
        var configuration = BrokerUnderTest.DefaultConfiguration(issuer.Issuer, new Dictionary<string, string> { ["echo"] = echo.Address });
        // No drain: this is a stop that ends tunnels at once (BrokerDrainTests has the drain that lets them finish).
        configuration["Broker:Transport:DrainTimeout"] = "0";
        var broker = await BrokerUnderTest.StartAsync(configuration, TestContext.Progress);
        await using var agent = await AgentUnderTest.StartAsync(broker.Address, ["0:echo"], AgentUnderTest.GitHubEnvironment(issuer), echo: TestContext.Progress);
        using var client = await SocketIo.ConnectAsync(agent["echo"]);
        await client.SendAllAsync(new byte[] { 1 });
        Assert.That(await client.ReadExactlyAsync(1).DefaultTimeout(), Is.EqualTo(new byte[] { 1 }));

        // Kestrel's own shutdown timeout is 30 s; a broker that waited for quiet tunnels would take that long.
        await broker.DisposeAsync().AsTask().WithTimeout(TimeSpan.FromSeconds(10));
        var (_, wasReset) = await client.ReadUntilClosedAsync().DefaultTimeout();

        Assert.That(wasReset, Is.True, "a tunnel cut by the broker stopping must not look like a clean end of stream");
        var logged = await agent.Logs.WaitForAsync(e => e.EventId.Name == "TunnelFailed").DefaultTimeout();
        // The broker's "stopping" status usually arrives first; the connection's close can win the race, and then
        // the agent reports the lost connection instead. Either way it blames the broker's side, not the client.
        Assert.That(logged.Message, Does.Contain("the broker ended the tunnel"));
    }
}
