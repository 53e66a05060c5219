using System.Text.RegularExpressions;
using GitHubActionsPort.Agent.Forwarding;
using GitHubActionsPort.Protocol.V1;
using Google.Protobuf;
using BrokerClient = GitHubActionsPort.Protocol.V1.Broker.BrokerClient;

namespace GitHubActionsPort.Tests;

/// <summary>
/// The agent's channel spreads tunnels over a fixed set of HTTP/2 connections: a tunnel saturated with an upload
/// and a tunnel doing small round trips reach the broker over different TCP connections.
/// </summary>
public sealed partial class BrokerChannelTests : TunnelFixture
{
    private const int EchoRoundTrips = 20;
    private const int EchoSize = 1024;

    /// <summary>How much the sink must have taken before the bulk tunnel counts as busy.</summary>
    private const long BusyAfter = 32L * 1024 * 1024;

    private readonly CountingSink _sink = new();

    protected override Dictionary<string, string> ExtraTargets() => new() { ["sink"] = _sink.Server.Address };

    [OneTimeTearDown]
    public Task StopSinkAsync() => _sink.Server.DisposeAsync().AsTask();

    [Test]
    public void ForTunnel_PicksTheConnectionWithFewestOpenTunnels_FirstOnATie()
    {
        // Nothing dials until a call starts, so no broker is needed to hand out places.
        using var channel = BrokerChannel.Create(Broker.Address, new AgentTransport { TunnelConnections = 3 }, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);

        var first = channel.ForTunnel();
        var second = channel.ForTunnel();
        var third = channel.ForTunnel();
        var fourth = channel.ForTunnel();
        Assert.That(Indexes(first, second, third, fourth), Is.EqualTo("0,1,2,0"));

        second.Dispose();
        second.Dispose();
        Assert.That(string.Join(",", channel.OpenTunnels()), Is.EqualTo("2,0,1"), "a second dispose gives nothing back twice");
        using var fifth = channel.ForTunnel();
        Assert.That(fifth.Index, Is.EqualTo(1));

        first.Dispose();
        third.Dispose();
        fourth.Dispose();
        Assert.That(string.Join(",", channel.OpenTunnels()), Is.EqualTo("0,1,0"));
    }

    [TestCase(2, ExpectedResult = false, TestName = "BusyUploadAndEchoTunnels_TwoConnections_RideSeparateConnections")]
    [TestCase(1, ExpectedResult = true, TestName = "BusyUploadAndEchoTunnels_OneConnection_ShareIt")]
    public async Task<bool> BusyUploadAndEchoTunnels_ShareAConnection(int connections)
    {
        using var channel = BrokerChannel.Create(Broker.Address, new AgentTransport { TunnelConnections = connections }, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
        using var session = await RawSession.OpenAsync(new BrokerClient(channel), Issuer.MintToken("ghaport"), ["sink", "echo"]);
        var takenBefore = _sink.Taken;

        using var bulkConnection = channel.ForTunnel();
        using var bulk = await TunnelCalls.ConnectAsync(bulkConnection, session, "sink");
        using var stopUpload = new CancellationTokenSource();
        var busy = _sink.WhenTaken(takenBefore + BusyAfter);
        var uploading = TunnelCalls.UploadUntilStoppedAsync(bulk, stopUpload.Token);
        await busy.DefaultTimeout();

        using var echoConnection = channel.ForTunnel();
        using var echo = await TunnelCalls.ConnectAsync(echoConnection, session, "echo");
        for (var i = 0; i < EchoRoundTrips; i++)
        {
            var data = SocketIo.RandomBytes(EchoSize);
            await echo.RequestStream.WriteAsync(new TunnelFrame { Data = ByteString.CopyFrom(data) }).DefaultTimeout();
            Assert.That(await TunnelCalls.ReadAsync(echo, EchoSize).DefaultTimeout(), Is.EqualTo(data));
        }

        Assert.That(uploading.IsCompleted, Is.False, "the upload was still going through every round trip");
        await TunnelCalls.EndAsync(echo).DefaultTimeout();
        await stopUpload.CancelAsync();
        await uploading.DefaultTimeout();
        await TunnelCalls.EndAsync(bulk).DefaultTimeout();

        var sinkPeer = PeerOf("sink");
        var echoPeer = PeerOf("echo");
        Assert.That(sinkPeer, Is.Not.Null.And.Not.Empty);
        Assert.That(echoPeer, Is.Not.Null.And.Not.Empty);
        return sinkPeer == echoPeer;
    }

    private static string Indexes(params TunnelConnection[] connections) => string.Join(",", connections.Select(c => c.Index));

    /// <summary>The peer (the agent's address and port on its TCP connection) the broker saw for the latest tunnel to <paramref name="target"/>.</summary>
    private string? PeerOf(string target) =>
        Broker.Logs.Entries
            .Where(e => e.EventId.Name == "TunnelOpened")
            .Select(e => OpenedFrom().Match(e.Message))
            .LastOrDefault(m => m.Success && m.Groups["target"].Value == target)?.Groups["peer"].Value;

    [GeneratedRegex(@" to (?<target>\S+) opened from (?<peer>\S+)$")]
    private static partial Regex OpenedFrom();
}
