using System.Diagnostics.Metrics;
using System.Net.Sockets;
using GitHubActionsPort.Protocol.Tunnels;
using GitHubActionsPort.Protocol.V1;
using Google.Protobuf;
using Grpc.Core;

namespace GitHubActionsPort.Tests;

/// <summary>The shared splice on a real socket pair and an in-memory far end: how each way of ending is told apart.</summary>
public sealed class TunnelSpliceTests
{
    private Socket _peer = null!;
    private TunnelSocket _socket = null!;
    private InMemoryFrameStream _stream = null!;

    [SetUp]
    public async Task ConnectSocketPairAsync()
    {
        var (peer, accepted) = await SocketIo.ConnectedPairAsync();
        _peer = peer;
        _socket = new TunnelSocket(accepted);
        _stream = new InMemoryFrameStream();
    }

    [TearDown]
    public async Task DisposeSocketPairAsync()
    {
        await _socket.DisposeAsync();
        _peer.Dispose();
    }
    [Test]
    public async Task BothSidesEnd_Completed_WithBytesEachWay()
    {
        var fromStream = SocketIo.RandomBytes(200_000);
        var fromPeer = SocketIo.RandomBytes(300_000);

        var splice = TunnelSplice.RunAsync(_socket, _stream, _stream, null, CancellationToken.None);
        _stream.Feed(new TunnelFrame { Data = ByteString.CopyFrom(fromStream) });
        _stream.FeedEndAndComplete();
        await _peer.SendAllAsync(fromPeer);
        _peer.Shutdown(SocketShutdown.Send);
        var peerReceived = await _peer.ReadToEndAsync().DefaultTimeout();
        var result = await splice.DefaultTimeout();

        Assert.That(result.End, Is.EqualTo(TunnelEnd.Completed));
        Assert.That(result.BytesToSocket, Is.EqualTo(fromStream.Length));
        Assert.That(result.BytesFromSocket, Is.EqualTo(fromPeer.Length));
        Assert.That(SocketIo.Sha256(peerReceived), Is.EqualTo(SocketIo.Sha256(fromStream)));
        var written = _stream.Written;
        Assert.That(written[^1].KindCase, Is.EqualTo(TunnelFrame.KindOneofCase.End), "exactly one end-of-stream frame, last");
        Assert.That(written.Take(written.Count - 1), Has.All.Matches<TunnelFrame>(f => f.KindCase == TunnelFrame.KindOneofCase.Data && f.Data.Length is > 0 and <= 64 * 1024));
        Assert.That(SocketIo.Sha256(written.Take(written.Count - 1).SelectMany(f => f.Data.ToByteArray()).ToArray()), Is.EqualTo(SocketIo.Sha256(fromPeer)));
    }

    [Test]
    public async Task StreamFails_StreamFailed_AndOtherDirectionStops()
    {

        var splice = TunnelSplice.RunAsync(_socket, _stream, _stream, null, CancellationToken.None);
        _stream.Fail(new RpcException(new Status(StatusCode.Aborted, "target reset")));
        var result = await splice.DefaultTimeout();

        Assert.That(result.End, Is.EqualTo(TunnelEnd.StreamFailed));
        Assert.That(result.Error, Is.InstanceOf<RpcException>());
    }

    [Test]
    public async Task PeerResets_SocketFailed()
    {

        var splice = TunnelSplice.RunAsync(_socket, _stream, _stream, null, CancellationToken.None);
        _peer.Reset();
        var result = await splice.DefaultTimeout();

        Assert.That(result.End, Is.EqualTo(TunnelEnd.SocketFailed));
    }

    [Test]
    public async Task EmptyDataFrame_IsAProtocolViolation()
    {

        var splice = TunnelSplice.RunAsync(_socket, _stream, _stream, null, CancellationToken.None);
        _stream.Feed(new TunnelFrame { Data = ByteString.Empty });
        var result = await splice.DefaultTimeout();

        Assert.That(result.End, Is.EqualTo(TunnelEnd.StreamFailed));
        Assert.That(result.Error, Is.InstanceOf<InvalidDataException>());
    }

    [Test]
    public async Task StreamEndsWithoutEndFrame_IsAProtocolViolation()
    {

        var splice = TunnelSplice.RunAsync(_socket, _stream, _stream, null, CancellationToken.None);
        _stream.Complete();
        var result = await splice.DefaultTimeout();

        Assert.That(result.End, Is.EqualTo(TunnelEnd.StreamFailed));
        Assert.That(result.Error, Is.InstanceOf<InvalidDataException>().With.Message.Contains("end-of-stream"));
    }

    [Test]
    public async Task DataAfterEndFrame_IsAProtocolViolation()
    {

        var splice = TunnelSplice.RunAsync(_socket, _stream, _stream, null, CancellationToken.None);
        _stream.FeedEnd();
        _stream.Feed(new TunnelFrame { Data = ByteString.CopyFrom(1) });
        var result = await splice.DefaultTimeout();

        Assert.That(result.End, Is.EqualTo(TunnelEnd.StreamFailed));
        Assert.That(result.Error, Is.InstanceOf<InvalidDataException>().With.Message.Contains("after the end-of-stream"));
    }

    [Test]
    public async Task StreamFailsAfterEndFrame_StillStreamFailed()
    {

        var splice = TunnelSplice.RunAsync(_socket, _stream, _stream, null, CancellationToken.None);
        _stream.FeedEnd();
        Assert.That(await _peer.ReadToEndAsync().DefaultTimeout(), Is.Empty, "the end-of-stream frame half-closes the socket at once");
        // A reset that comes after the far end's FIN (say, the target reset on unread data) must not be lost.
        _stream.Fail(new RpcException(new Status(StatusCode.Aborted, "target reset")));
        var result = await splice.DefaultTimeout();

        Assert.That(result.End, Is.EqualTo(TunnelEnd.StreamFailed));
    }

    [Test]
    public async Task CallerCancels_Canceled()
    {
        using var cancel = new CancellationTokenSource();

        var splice = TunnelSplice.RunAsync(_socket, _stream, _stream, null, cancel.Token);
        await cancel.CancelAsync();
        var result = await splice.DefaultTimeout();

        Assert.That(result.End, Is.EqualTo(TunnelEnd.Canceled));
    }

    [Test]
    public async Task HalfClosedDirection_LeavesTheOtherRunning()
    {

        var splice = TunnelSplice.RunAsync(_socket, _stream, _stream, null, CancellationToken.None);
        _peer.Shutdown(SocketShutdown.Send);
        // The peer's end of stream is passed on as a frame while the other direction still flows.
        _stream.Feed(new TunnelFrame { Data = ByteString.CopyFrom(1, 2, 3) });
        Assert.That(await _peer.ReadExactlyAsync(3).DefaultTimeout(), Is.EqualTo(new byte[] { 1, 2, 3 }));
        Assert.That(splice.IsCompleted, Is.False);
        _stream.FeedEndAndComplete();
        var result = await splice.DefaultTimeout();

        Assert.That(result.End, Is.EqualTo(TunnelEnd.Completed));
        Assert.That(_stream.Written.Single().KindCase, Is.EqualTo(TunnelFrame.KindOneofCase.End));
    }

    [Test]
    public async Task ByteCounters_AreReportedToMeterListeners()
    {
        var counted = new Dictionary<string, long>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == TunnelMetrics.MeterName && instrument.Name == "ghaport.tunnel.bytes")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            lock (counted)
            {
                var direction = (string)tags[0].Value!;
                counted[direction] = counted.GetValueOrDefault(direction) + value;
            }
        });
        listener.Start();

        var splice = TunnelSplice.RunAsync(_socket, _stream, _stream, null, CancellationToken.None);
        _stream.Feed(new TunnelFrame { Data = ByteString.CopyFrom(new byte[1234]) });
        _stream.FeedEndAndComplete();
        await _peer.SendAllAsync(new byte[4321]);
        _peer.Shutdown(SocketShutdown.Send);
        await _peer.ReadToEndAsync().DefaultTimeout();
        await splice.DefaultTimeout();

        // Other tests may splice concurrently in this process; these tunnels moved at least this much.
        Assert.That(counted.GetValueOrDefault("to_socket"), Is.GreaterThanOrEqualTo(1234));
        Assert.That(counted.GetValueOrDefault("from_socket"), Is.GreaterThanOrEqualTo(4321));
    }
}
