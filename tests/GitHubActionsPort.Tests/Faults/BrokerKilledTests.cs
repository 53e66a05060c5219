using System.Net.Sockets;
using GitHubActionsPort.Broker.DevIssuer;

namespace GitHubActionsPort.Tests.Faults;

/// <summary>
/// A broker process killed outright (SIGKILL) while tunnels are moving data, then started again on the same port:
/// the live tunnels are reset and the agent says why, and the same agent then opens a new session and carries new
/// tunnels with every byte intact. (BrokerRestartTests covers a broker stopped gracefully with idle tunnels.)
/// </summary>
[TestFixture("raw")]
[TestFixture("grpc")]
public sealed class BrokerKilledTests(string lane)
{
    /// <summary>Tunnels echoing both ways, and tunnels only downloading; as many of each.</summary>
    private const int TunnelsOfEachKind = 2;

    /// <summary>Received back intact on every tunnel before the kill: proof that each is moving data.</summary>
    private const long MovingBeforeKill = 4 * 1024 * 1024;

    private const int AfterRestart = 8 * 1024 * 1024;

    [Test]
    public async Task BrokerKilledWhileTunnelsMoveData_TunnelsAreReset_AndAfterRestartNewTunnelsCarryEveryByte()
    {
        await using var issuer = await DevIssuer.StartAsync().DefaultTimeout();
        await using var echo = TcpTestServer.Echo();
        // Endless, for as long as the tunnel lasts.
        await using var source = new Firehose(long.MaxValue);
        var configuration = BrokerUnderTest.DefaultConfiguration(issuer.Issuer, new Dictionary<string, string> { ["echo"] = echo.Address, ["source"] = source.Address });
        await using var broker = await ProcessBroker.StartAsync(configuration);
        await using var agent = await FaultAgent.StartAsync(lane, broker.Address, ["echo", "source"], AgentUnderTest.GitHubEnvironment(issuer));
        var pattern = new BytePattern();
        var pumps = new List<EchoPump>();
        var downloads = new List<Socket>();
        try
        {
            for (var i = 0; i < TunnelsOfEachKind; i++)
            {
                pumps.Add(await EchoPump.StartAsync(agent["echo"], pattern, MovingBeforeKill));
                var download = await SocketIo.ConnectAsync(agent["source"]);
                downloads.Add(download);
                await source.Pattern.ReadAsync(download, 0, MovingBeforeKill).DefaultTimeout();
            }

            await Task.WhenAll(pumps.Select(p => p.Moving)).DefaultTimeout();
            // The downloads read on from where they were, so they are moving data when the broker dies.
            var downloadEnds = downloads.Select(d => source.Pattern.ReadUntilClosedAsync(d, MovingBeforeKill)).ToList();

            await broker.KillAsync();

            // A download-only client sees the end on its read, nowhere else: a reset there, not a clean end.
            var downloaded = await Task.WhenAll(downloadEnds).DefaultTimeout();
            Assert.That(downloaded.Select(d => d.WasReset), Has.All.True, "a download cut by the broker's death must end in a reset, not a clean end of stream");
            Assert.That(downloaded.Select(d => d.MismatchAt), Has.All.Null, "what arrived before the cut is the target's bytes, in order");

            // An echoing client may hear of the reset on its send instead (the kernel tells whichever asks first).
            var echoed = await Task.WhenAll(pumps.Select(p => p.Ended)).DefaultTimeout();
            Assert.That(echoed.Select(e => e.WasReset), Has.All.True, "an echo cut by the broker's death must end in a reset, not a clean end of stream");
            Assert.That(echoed.Select(e => e.MismatchAt), Has.All.Null, "what came back before the cut is exactly what was sent, in order");
        }
        finally
        {
            foreach (var pump in pumps)
            {
                pump.Dispose();
            }

            foreach (var download in downloads)
            {
                download.Dispose();
            }
        }

        await agent.Logs.WaitForAsync(e => e.EventId.Name == "TunnelFailed", occurrence: 2 * TunnelsOfEachKind).DefaultTimeout();
        var failed = agent.Logs.Entries.Where(e => e.EventId.Name == "TunnelFailed").ToList();
        Assert.That(failed, Has.Count.EqualTo(2 * TunnelsOfEachKind), "the agent reports each cut tunnel once");
        Assert.That(failed.Select(e => e.Message), Has.All.Contain("the broker ended the tunnel"), "the agent says the broker's side ended it");
        Assert.That(agent.Exit.IsCompleted, Is.False, "the agent outlives its broker");

        await broker.RestartAsync();

        // Same agent, same port on the broker: the lease is unknown there, a new session is opened, and data flows.
        await Task.WhenAll(Enumerable.Range(0, 2 * TunnelsOfEachKind).Select(_ => EchoCheck.AssertRoundTripAsync(agent["echo"], AfterRestart, "a tunnel through the restarted broker carries every byte")));
        await agent.Logs.WaitForAsync(e => e.EventId.Name == "SessionReopened").DefaultTimeout();
        Assert.That(agent.Logs.Errors, Is.Empty, "a broker that died and came back is not an agent error");
    }
}
