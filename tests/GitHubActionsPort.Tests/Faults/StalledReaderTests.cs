using System.Globalization;
using GitHubActionsPort.Broker.DevIssuer;

namespace GitHubActionsPort.Tests.Faults;

/// <summary>
/// A local client that stops reading while its target has 1 GiB to send: backpressure reaches the target, the broker
/// and agent processes hold no more memory than a window's worth, and another tunnel keeps moving data meanwhile.
/// </summary>
[TestFixture("raw")]
[TestFixture("grpc")]
public sealed class StalledReaderTests(string lane)
{
    private const long Download = 1024L * 1024 * 1024;

    /// <summary>Read and checked before the client stops: the download is under way.</summary>
    private const int ReadBeforeStopping = 4 * 1024 * 1024;

    /// <summary>The echo that warms both processes up, and the one that runs while the download is stalled.</summary>
    private const int EchoSize = 64 * 1024 * 1024;

    /// <summary>
    /// Growth each process may show over its warmed-up size. Generous (a tunnel's windows are 4 MiB a direction),
    /// yet a sixteenth of what an unbounded relay would have swallowed by the time the target stalls.
    /// </summary>
    private const long MaxGrowth = 64L * 1024 * 1024;

    /// <summary>What the whole path (sockets, windows, buffers) may hold for a reader that stopped.</summary>
    private const long MaxInFlight = 64L * 1024 * 1024;

    [Test]
    public async Task ClientStopsReadingA1GiBDownload_BrokerAndAgentMemoryStayBounded_AndAnotherTunnelMovesData()
    {
        Assume.That(ProcessMemory.IsSupported, "process memory is read from /proc");
        await using var issuer = await DevIssuer.StartAsync().DefaultTimeout();
        await using var echo = TcpTestServer.Echo();
        await using var source = new Firehose(Download);
        var configuration = BrokerUnderTest.DefaultConfiguration(issuer.Issuer, new Dictionary<string, string> { ["echo"] = echo.Address, ["source"] = source.Address });
        await using var broker = await ProcessBroker.StartAsync(configuration);
        await using var agent = await FaultAgent.StartProcessAsync(lane, broker.Address, ["echo", "source"], AgentUnderTest.GitHubEnvironment(issuer));

        // Warm-up: both processes compile the path and grow their heaps to what moving data takes.
        await EchoCheck.AssertRoundTripAsync(agent.Forwards["echo"], EchoSize, "the warm-up echo carries every byte");
        var brokerBaseline = ProcessMemory.ResidentBytes(broker.Id);
        var agentBaseline = ProcessMemory.ResidentBytes(agent.Id);

        using var stalled = await SocketIo.ConnectAsync(agent.Forwards["source"]);
        await source.Pattern.ReadAsync(stalled, 0, ReadBeforeStopping).DefaultTimeout();
        var target = await source.ConnectionAsync().DefaultTimeout();

        // The client reads no more. Once every buffer on the way is full, the target's own send blocks: backpressure.
        var sentAtStall = await target.Stalled.DefaultTimeout();
        var brokerStalled = ProcessMemory.ResidentBytes(broker.Id);
        var agentStalled = ProcessMemory.ResidentBytes(agent.Id);

        // Meanwhile the same agent and broker carry another tunnel at full speed.
        await EchoCheck.AssertRoundTripAsync(agent.Forwards["echo"], EchoSize, "a tunnel beside the stalled one carries every byte");
        var brokerAfterEcho = ProcessMemory.ResidentBytes(broker.Id);
        var agentAfterEcho = ProcessMemory.ResidentBytes(agent.Id);
        var sentBeforeResuming = target.BytesSent;

        TestContext.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"target stalled after {Mib(sentAtStall)}, {Mib(sentBeforeResuming)} sent before the client read again; broker RSS {Mib(brokerBaseline)} -> {Mib(brokerStalled)} -> {Mib(brokerAfterEcho)}; agent RSS {Mib(agentBaseline)} -> {Mib(agentStalled)} -> {Mib(agentAfterEcho)}"));
        Assert.That(sentBeforeResuming, Is.LessThan(MaxInFlight), "the target could send only what the path holds while the client did not read");
        Assert.That(Math.Max(brokerStalled, brokerAfterEcho) - brokerBaseline, Is.LessThan(MaxGrowth), "the broker's memory stays bounded while a tunnel is backpressured");
        Assert.That(Math.Max(agentStalled, agentAfterEcho) - agentBaseline, Is.LessThan(MaxGrowth), "the agent's memory stays bounded while a tunnel is backpressured");

        // The stall was backpressure, not a broken tunnel: reading again, every remaining byte arrives, in order.
        var rest = await source.Pattern.ReadUntilClosedAsync(stalled, ReadBeforeStopping).WithTimeout(TimeSpan.FromSeconds(90));
        Assert.That(rest.WasReset, Is.False, "the download ends cleanly");
        Assert.That(rest.MismatchAt, Is.Null, "every byte of the download is the target's, in order");
        Assert.That(ReadBeforeStopping + rest.Received, Is.EqualTo(Download), "the whole download arrives once the client reads again");
    }

    private static string Mib(long bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024):0.0} MiB");
}
