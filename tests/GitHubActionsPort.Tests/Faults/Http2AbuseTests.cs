using GitHubActionsPort.Broker.Configuration;
using GitHubActionsPort.Protocol;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using BrokerClient = GitHubActionsPort.Protocol.V1.Broker.BrokerClient;

namespace GitHubActionsPort.Tests.Faults;

/// <summary>
/// Clients that abuse HTTP/2 on the broker's port, each stopped or bounded by the broker's limits (its Kestrel
/// settings, gRPC's message size), while a well-behaved agent's tunnel beside them keeps carrying data. The broker
/// runs with its production transport settings.
/// </summary>
public sealed class Http2AbuseTests() : FaultFixture("grpc")
{
    private const string TunnelPath = "/ghaport.v1.Broker/Tunnel";
    private const string OpenSessionPath = "/ghaport.v1.Broker/OpenSession";

    /// <summary>Streams opened and reset at once by the rapid-reset client.</summary>
    private const int RapidResets = 5_000;

    /// <summary>Streams the rapid-reset client may get served before the broker calls it off: a fraction of the burst.</summary>
    private const int MaxServedResets = 1_000;

    /// <summary>Streams opened past the broker's SETTINGS_MAX_CONCURRENT_STREAMS.</summary>
    private const int ExtraStreams = 4;

    /// <summary>What the path may take from a target for a client that never reads: sockets' buffers and one 64 KiB window.</summary>
    private const long MaxTakenForNonReader = 32L * 1024 * 1024;

    /// <summary>A declared gRPC message size far over WireLimits.MaxMessageSize, of which only one frame is ever sent.</summary>
    private const uint DeclaredMessageSize = 1u << 30;

    private const int GoodEcho = 16 * 1024 * 1024;

    private readonly TcpTestServer _quiet = TcpTestServer.Echo();
    private readonly Firehose _source = new(1024L * 1024 * 1024);
    private GrpcChannel _channel = null!;

    protected override Dictionary<string, string> ExtraTargets() => new() { ["quiet"] = _quiet.Address, ["source"] = _source.Address };

    protected override void Configure(Dictionary<string, string?> configuration)
    {
        base.Configure(configuration);
        // Room for a lease to fill an HTTP/2 connection's stream limit and go past it.
        configuration["Broker:Rules:0:MaxConnections"] = "1000";
    }

    /// <summary>The broker's limit of concurrent streams per HTTP/2 connection (Broker:Transport:MaxStreamsPerConnection).</summary>
    private int MaxStreams => Broker.Services.GetRequiredService<BrokerSettings>().Transport.MaxStreamsPerConnection;

    [OneTimeSetUp]
    public void CreateChannel() => _channel = GrpcChannel.ForAddress(Broker.Address);

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        _channel.Dispose();
        await _quiet.DisposeAsync();
        await _source.DisposeAsync();
    }

    [Test]
    public async Task RapidReset_ThousandsOfStreamsOpenedAndReset_BrokerDropsTheConnection_AndAGoodTunnelCarriesOn()
    {
        await using var agent = await StartFaultAgentAsync("echo");
        await using var raw = await RawHttp2Client.ConnectAsync(Broker.Address);
        await raw.ReadUntilAsync(f => f.Type == Http2FrameType.Settings && !f.IsAck).DefaultTimeout();
        var headers = raw.GrpcRequestHeaders(TunnelPath);
        using var burst = new MemoryStream();
        for (var i = 0; i < RapidResets; i++)
        {
            var streamId = 1 + (2 * i);
            burst.Write(RawHttp2Client.HeadersFrame(streamId, headers));
            burst.Write(RawHttp2Client.RstStreamFrame(streamId, Http2ErrorCode.Cancel));
        }

        // Answered only by a server that read (and so processed) every frame before it.
        burst.Write(RawHttp2Client.PingFrame(42));
        var seen = new List<Http2Frame>();
        var reading = raw.ReadUntilAsync(f => (f.Type == Http2FrameType.Ping && f.IsAck) || f.Type == Http2FrameType.GoAway, seen);
        var goodTunnel = EchoCheck.AssertRoundTripAsync(agent["echo"], GoodEcho, "a tunnel beside the rapid-reset client carries every byte");
        ExpectBrokerError(e => e.Message.Contains("exceeded the output operations maximum queue size", StringComparison.Ordinal));
        // When Kestrel tears the flooded connection down while its streams are still being refused, it may also report
        // that the connection's processing never completed (Critical, once, in one CI run): the same dropped connection.
        ExpectBrokerError(e => e.Category.StartsWith("Microsoft.AspNetCore.Server.Kestrel", StringComparison.Ordinal) && e.Message.EndsWith("application never completed.", StringComparison.Ordinal));
        try
        {
            await raw.WriteAsync(burst.ToArray());
        }
        catch (IOException)
        {
            // The broker may drop the connection before the whole burst is written: that is the point.
        }

        var last = await reading.DefaultTimeout();
        await goodTunnel;

        // Ended rather than served to the end (a PING ack after the whole burst): Kestrel drops the connection without a
        // word when its output queue overflows, or sends GOAWAY first, whichever of its defences trips first that run.
        Assert.That(last is null || last.Type == Http2FrameType.GoAway, Is.True, "the broker ends the abusive connection rather than serving the whole burst; frames seen: " + Describe(seen));
        // Kestrel usually says why it dropped the connection (its output queue overflowed, at Critical), but not on every
        // run: one CI run saw the connection dropped with no such line. The drop itself is what matters, asserted above.
        if (Broker.Logs.Entries.FirstOrDefault(e => e.Message.Contains("exceeded the output operations maximum queue size", StringComparison.Ordinal)) is { } aborted)
        {
            Assert.That(aborted.Level, Is.EqualTo(LogLevel.Critical), "Kestrel reports the dropped connection, at Critical");
        }
        var served = Broker.Logs.Entries.Count(e => e.EventId.Name == "LeaseRejected" && e.Message.Contains($"127.0.0.1:{raw.LocalEndPoint.Port} refused", StringComparison.Ordinal));
        Assert.That(served, Is.LessThan(MaxServedResets), $"only a fraction of the {RapidResets} streams reached the broker's code before the connection was dropped");
        await EchoCheck.AssertRoundTripAsync(agent["echo"], GoodEcho, "a tunnel after the rapid-reset client carries every byte");
    }

    [Test]
    public async Task MoreStreamsThanAllowed_ExtraStreamsAreRefused_OpenOnesWork_AndAGoodTunnelCarriesOn()
    {
        await using var agent = await StartFaultAgentAsync("echo");
        using var session = await RawSession.OpenAsync(new BrokerClient(_channel), Issuer.MintToken("ghaport"), ["quiet"]);
        await using var raw = await RawHttp2Client.ConnectAsync(Broker.Address);
        var settings = await raw.ReadUntilAsync(f => f.Type == Http2FrameType.Settings && !f.IsAck).DefaultTimeout();
        Assert.That(settings!.Settings.GetValueOrDefault(Http2Setting.MaxConcurrentStreams), Is.EqualTo(MaxStreams), "the broker announces its stream limit");

        // Real tunnels, each with its own valid proof, so every stream stays open on the broker (a quiet target).
        var streams = MaxStreams + ExtraStreams;
        using var burst = new MemoryStream();
        for (var i = 0; i < streams; i++)
        {
            burst.Write(RawHttp2Client.HeadersFrame(StreamId(i), raw.GrpcRequestHeaders(TunnelPath, session.Headers("Tunnel", "quiet"))));
        }

        await raw.WriteAsync(burst.ToArray());
        var seen = new List<Http2Frame>();
        var answered = new HashSet<int>();
        await raw.ReadUntilAsync(
            f =>
            {
                if ((f.Type == Http2FrameType.Headers && f.Header(WireLimits.ConnectedHeader) == "1") || f.Type == Http2FrameType.RstStream)
                {
                    answered.Add(f.StreamId);
                }

                return answered.Count == streams || f.Type == Http2FrameType.GoAway;
            },
            seen).DefaultTimeout();
        var connected = seen.Where(f => f.Type == Http2FrameType.Headers && f.Header(WireLimits.ConnectedHeader) == "1").Select(f => f.StreamId).Order().ToList();
        var refused = seen.Where(f => f.Type == Http2FrameType.RstStream).ToList();

        Assert.That(connected, Is.EqualTo(Enumerable.Range(0, MaxStreams).Select(StreamId)), "the streams within the limit are served: their tunnels connect");
        Assert.That(refused.Select(f => f.StreamId), Is.EqualTo(Enumerable.Range(MaxStreams, ExtraStreams).Select(StreamId)), "the streams past the limit are refused");
        Assert.That(refused.Select(f => f.ErrorCode), Has.All.EqualTo(Http2ErrorCode.RefusedStream), "with REFUSED_STREAM, which a client may retry");
        Assert.That(seen.Where(f => f.Type == Http2FrameType.GoAway), Is.Empty, "the connection itself stays up");
        await EchoCheck.AssertRoundTripAsync(agent["echo"], GoodEcho, "a tunnel beside a client at its stream limit carries every byte");

        // Closing one stream makes room for exactly one more on the same connection.
        var next = StreamId(streams);
        await raw.WriteAsync((byte[])[
            .. RawHttp2Client.RstStreamFrame(StreamId(0), Http2ErrorCode.Cancel),
            .. RawHttp2Client.HeadersFrame(next, raw.GrpcRequestHeaders(TunnelPath, session.Headers("Tunnel", "quiet")))]);
        var reply = await raw.ReadUntilAsync(f => f.StreamId == next && f.Type is Http2FrameType.Headers or Http2FrameType.RstStream).DefaultTimeout();
        Assert.That(reply?.Header(WireLimits.ConnectedHeader), Is.EqualTo("1"), $"a stream opened once another closed is served; got {reply}");
    }

    [Test]
    public async Task OversizedMessages_AreRefusedWithResourceExhausted_FromTheirLengthPrefix()
    {
        await using var agent = await StartFaultAgentAsync("echo");
        using var session = await RawSession.OpenAsync(new BrokerClient(_channel), Issuer.MintToken("ghaport"), ["quiet"]);
        await using var raw = await RawHttp2Client.ConnectAsync(Broker.Address);
        // One frame's worth (16 KiB, the protocol's default frame size) of a message declared at 1 GiB: the rest never comes.
        byte[] firstFrame = [.. RawHttp2Client.GrpcMessagePrefix(DeclaredMessageSize), .. new byte[16384 - 5]];

        // Unauthenticated: an OpenSession whose request is declared far too large.
        await raw.WriteAsync((byte[])[.. RawHttp2Client.HeadersFrame(1, raw.GrpcRequestHeaders(OpenSessionPath)), .. RawHttp2Client.DataFrame(1, firstFrame)]);
        var sessionReply = await raw.ReadUntilAsync(f => f.StreamId == 1 && f.EndStream).DefaultTimeout();
        Assert.That(sessionReply?.Header("grpc-status"), Is.EqualTo("8"), $"OpenSession: ResourceExhausted without waiting for the declared 1 GiB; got {sessionReply}");

        // Authenticated: a tunnel whose first frame is declared far too large, on the same connection.
        await raw.WriteAsync(RawHttp2Client.HeadersFrame(3, raw.GrpcRequestHeaders(TunnelPath, session.Headers("Tunnel", "quiet"))));
        var connected = await raw.ReadUntilAsync(f => f.StreamId == 3 && f.Type == Http2FrameType.Headers).DefaultTimeout();
        Assert.That(connected?.Header(WireLimits.ConnectedHeader), Is.EqualTo("1"), $"the tunnel connects first; got {connected}");
        await raw.WriteAsync(RawHttp2Client.DataFrame(3, firstFrame));
        var tunnelReply = await raw.ReadUntilAsync(f => f.StreamId == 3 && f.EndStream).DefaultTimeout();
        Assert.That(tunnelReply?.Header("grpc-status"), Is.EqualTo("8"), $"Tunnel: ResourceExhausted, not a generic failure; got {tunnelReply}");

        var closed = await AuditTrailFile.WaitForAsync(AuditPath, r => AuditTrailFile.TypeOf(r) == "tunnel.closed" && AuditTrailFile.Field(r, "tunnel")!.StartsWith(session.Lease.LeaseId + "/", StringComparison.Ordinal));
        Assert.That(AuditTrailFile.Field(closed, "reason"), Does.Contain("exceeds the maximum"), "the trail says why the tunnel ended");
        Assert.That(closed.GetProperty("bytes_to_target").GetInt64(), Is.Zero, "nothing of the oversized message reached the target");
        await EchoCheck.AssertRoundTripAsync(agent["echo"], GoodEcho, "a tunnel beside the oversized messages carries every byte");
    }

    [Test]
    public async Task ClientThatNeverReads_BrokerTakesOnlyWhatItsWindowsHold_AndAGoodTunnelCarriesOn()
    {
        await using var agent = await StartFaultAgentAsync("echo");
        using var session = await RawSession.OpenAsync(new BrokerClient(_channel), Issuer.MintToken("ghaport"), ["source"]);
        // Protocol-default windows (64 KiB), never widened: this client neither reads its socket nor sends WINDOW_UPDATE.
        await using var raw = await RawHttp2Client.ConnectAsync(Broker.Address);
        await raw.WriteAsync(RawHttp2Client.HeadersFrame(1, raw.GrpcRequestHeaders(TunnelPath, session.Headers("Tunnel", "source"))));
        var target = await _source.ConnectionAsync().DefaultTimeout();

        var sentAtStall = await target.Stalled.DefaultTimeout();
        await EchoCheck.AssertRoundTripAsync(agent["echo"], GoodEcho, "a tunnel beside a client that never reads carries every byte");
        var taken = target.BytesSent;

        TestContext.Out.WriteLine($"target stalled after {sentAtStall} bytes; {taken} sent in all");
        Assert.That(taken, Is.LessThan(MaxTakenForNonReader), "the broker stops taking from the target once the client's window is full");
        Assert.That(Broker.Logs.Entries.Where(e => e.EventId.Name == "TunnelClosed" && e.Message.Contains(session.Lease.LeaseId, StringComparison.Ordinal)), Is.Empty, "a slow client is backpressured, not cut off");

        // Once the client goes away, the broker ends its tunnel and resets the target.
        await raw.DisposeAsync();
        var end = await target.Ended.DefaultTimeout();
        Assert.That(end.WasReset, Is.True, "the target's connection is reset when the client that never read goes away");
        await Broker.Logs.WaitForAsync(e => e.EventId.Name == "TunnelClosed" && e.Message.Contains(session.Lease.LeaseId, StringComparison.Ordinal)).DefaultTimeout();
    }

    private static int StreamId(int index) => 1 + (2 * index);

    private static string Describe(List<Http2Frame> frames) => string.Join("; ", frames.Take(20));
}
