using System.Net.Sockets;
using System.Security.Cryptography;
using GitHubActionsPort.Protocol;
using GitHubActionsPort.Protocol.RawLane;
using GitHubActionsPort.Protocol.V1;
using Grpc.Core;

namespace GitHubActionsPort.Tests.RawLane;

/// <summary>
/// What a real broker's raw lane does with the first bytes of a connection, from a plain socket: anything but a
/// Hello that proves a live lease is refused with a Reply whose status says why, and the connection then closes
/// cleanly; a peer that says nothing, or too slowly, is closed by the handshake timeout; an accepted Hello waits,
/// warm, for an Open of a target the lease covers, and then the connection is the tunnel, half-close included.
/// After any of it the broker still serves, and logs no error (the fixture fails a test that made it log one).
/// </summary>
public sealed class RawLanePreambleTests() : BrokerClientFixture("raw")
{
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Structure", "NUnit1032", Justification = "Disposed in OneTimeTearDown.")]
    private TcpTestServer _uncovered = null!;

    private Uri RawLane => Broker.RawLaneAddress ?? throw new InvalidOperationException("The broker's raw lane is off.");

    /// <summary>A target the broker knows and its rule allows, but that the tests' leases do not ask for.</summary>
    protected override Dictionary<string, string> ExtraTargets()
    {
        _uncovered = TcpTestServer.Echo();
        return new Dictionary<string, string> { ["uncovered"] = _uncovered.Address };
    }

    /// <summary>Short, so a silent peer is closed soon; the tests wait for the close, never for a time.</summary>
    protected override void Configure(Dictionary<string, string?> configuration) =>
        configuration["Broker:Lanes:Raw:HandshakeTimeout"] = "00:00:00.5";

    [OneTimeTearDown]
    public async Task StopUncoveredTargetAsync() => await _uncovered.DisposeAsync();

    public static IEnumerable<TestCaseData> NotAHello()
    {
        var garbage = new byte[64];
        new Random(7).NextBytes(garbage);
        garbage[0] = 0x00;
        yield return Case("garbage", garbage, "wrong magic");
        yield return Case("http2-preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray(), "wrong magic");
        yield return Case("tls-client-hello", [0x16, 0x03, 0x01, 0x00, 0x2F, 0x01, 0x00, 0x00, 0x2B, 0x03, 0x03], "wrong magic");
        yield return Case("wrong-version", [.. "GHPR"u8, 2, 1, 0, 0], "version 2 is not supported");
        yield return Case("unknown-kind", [.. "GHPR"u8, 1, 9, 0, 0], "kind 9");
        // The header alone, and the connection left open: the broker must answer without waiting for the body.
        yield return Case("oversized-length", [.. "GHPR"u8, 1, 1, 0xFF, 0xFF], $"65535 bytes is over the limit of {RawLaneFrame.MaxBodyLength}");
        yield return Case("malformed-hello", [.. "GHPR"u8, 1, 1, 0, 3, 0, 0, 0], "malformed raw-lane Hello");
        yield return Case("open-before-hello", RawLaneFrame.Encode(new RawLaneOpen("echo")), "must start with a Hello");
        yield return Case("reply-before-hello", RawLaneFrame.Encode(RawLaneReply.Accepted), "must start with a Hello");

        static TestCaseData Case(string name, byte[] bytes, string words) => new TestCaseData(bytes, words).SetArgDisplayNames(name);
    }

    [TestCaseSource(nameof(NotAHello))]
    public async Task FirstBytesThatAreNotAHello_AreRefusedAsInvalidArgument_ThenClosed(byte[] bytes, string words)
    {
        await NotAHelloIsRefusedAsync(bytes, words);

        await AssertRawLaneServesAsync();
    }

    [Test]
    public async Task SilentPeer_IsClosedByTheHandshakeTimeout_WithoutAWord()
    {
        await SilentPeerIsClosedAsync();

        await AssertRawLaneServesAsync();
    }

    [TestCase(3)]
    [TestCase(8)]
    [TestCase(20)]
    [TestCase(-1)]
    public async Task TruncatedHelloThenHalfClose_IsClosedWithoutAWord(int cut)
    {
        await TruncatedHelloIsDroppedAsync(cut);

        await AssertRawLaneServesAsync();
    }

    [Test]
    public async Task HelloTrickledAByteAtATime_IsClosedByTheHandshakeTimeout()
    {
        using var session = await OpenSessionAsync();
        var hello = RawLaneFrame.Encode(Hello(session));
        using var peer = await RawLanePeer.ConnectAsync(RawLane);
        var closing = peer.ReadUntilClosedAsync();

        // Each byte arrives well within the handshake timeout of the one before: only a deadline for the whole
        // Hello closes this connection, long before its last byte (seconds away at this pace) is sent.
        for (var sent = 0; sent < hello.Length && !closing.IsCompleted; sent++)
        {
            try
            {
                await peer.SendAsync(hello[sent..(sent + 1)]);
            }
            catch (SocketException)
            {
                break;
            }

            // Paces the attacker; the test waits for the close below, not for a time.
            await Task.WhenAny(closing, Task.Delay(TimeSpan.FromMilliseconds(20)));
        }

        var (rest, _) = await closing;
        Assert.That(rest, Is.Empty, "no Reply: the Hello never became whole in time");
        await BrokerSaysConnectionEndedAsync(peer, "no message in time");
    }

    public static IEnumerable<TestCaseData> ForgedHellos() =>
    [
        new("garbage-token", WireLimits.LeaseUnknownDetail),
        new("edited-token", WireLimits.LeaseUnknownDetail),
        new("another-key", "does not verify"),
        new("tunnel-proof", "does not verify"),
        new("proof-for-a-target", "does not verify"),
        new("stale-proof", "stale or from the future"),
        new("not-a-proof", LeaseProof.Header),
    ];

    [TestCaseSource(nameof(ForgedHellos))]
    public async Task HelloThatDoesNotProveTheLease_IsUnauthenticated_ThenClosed(string forgery, string words)
    {
        await ForgedHelloIsRefusedAsync(forgery, words);

        await AssertRawLaneServesAsync();
    }

    [Test]
    public async Task SameHelloOnASecondConnection_IsUnauthenticated_AndTheFirstStillServes()
    {
        using var session = await OpenSessionAsync();
        var hello = RawLaneFrame.Encode(Hello(session));
        using var first = await RawLanePeer.ConnectAsync(RawLane);
        await first.SendAsync(hello);
        AssertAccepted(await first.ReceiveAsync(), "the first Hello");

        using var replay = await RawLanePeer.ConnectAsync(RawLane);
        await replay.SendAsync(hello);
        await AssertRefusedAsync(replay, StatusCode.Unauthenticated, "already used");

        await AssertEchoesAsync(first, "echo");
    }

    [TestCase("uncovered")]
    [TestCase("nosuch")]
    public async Task OpenOfATargetTheLeaseDoesNotCover_IsPermissionDenied_AndNothingIsDialled(string target)
    {
        await UncoveredOpenIsRefusedAsync(target);

        await AssertRawLaneServesAsync();
    }

    [Test]
    public async Task SecondHelloInsteadOfAnOpen_IsInvalidArgument()
    {
        using var session = await OpenSessionAsync();
        using var peer = await RawLanePeer.ConnectAsync(RawLane);
        await peer.SendAsync(Hello(session));
        AssertAccepted(await peer.ReceiveAsync(), "the Hello");

        await peer.SendAsync(Hello(session));

        await AssertRefusedAsync(peer, StatusCode.InvalidArgument, "expects an Open");
    }

    [Test]
    public async Task GarbageAfterAnAcceptedHello_IsInvalidArgument()
    {
        using var session = await OpenSessionAsync();
        using var peer = await RawLanePeer.ConnectAsync(RawLane);
        await peer.SendAsync(Hello(session));
        AssertAccepted(await peer.ReceiveAsync(), "the Hello");

        await peer.SendAsync("SELECT 1;"u8.ToArray());

        await AssertRefusedAsync(peer, StatusCode.InvalidArgument, "wrong magic");
    }

    [Test]
    public async Task HelloThenOpen_IsATunnelToTheTarget_AndHalfCloseCrossesIt()
    {
        using var session = await OpenSessionAsync();
        using var peer = await RawLanePeer.ConnectAsync(RawLane);
        await peer.SendAsync(Hello(session));
        AssertAccepted(await peer.ReceiveAsync(), "the Hello");
        await peer.SendAsync(new RawLaneOpen("echo"));
        AssertAccepted(await peer.ReceiveAsync(), "the Open");

        var payload = SocketIo.RandomBytes(300_000);
        var echoing = peer.ReadExactlyAsync(payload.Length);
        await peer.SendAsync(payload);
        Assert.That(SocketIo.Sha256(await echoing), Is.EqualTo(SocketIo.Sha256(payload)), "bytes there and back");

        // Our end of stream reaches the target; its echo of what we sent last, and then its own end, still reach us.
        var last = SocketIo.RandomBytes(10_000);
        await peer.SendAsync(last);
        peer.Socket.Shutdown(SocketShutdown.Send);
        var (rest, wasReset) = await peer.ReadUntilClosedAsync();

        Assert.That(SocketIo.Sha256(rest), Is.EqualTo(SocketIo.Sha256(last)), "what was sent before the half-close");
        Assert.That(wasReset, Is.False, "the target's own end arrives as a clean end of stream");
        var closed = await Broker.Logs.WaitForAsync(e => e.EventId.Name == "TunnelClosed" && e.Message.Contains(session.Lease.LeaseId, StringComparison.Ordinal)).DefaultTimeout();
        Assert.That(closed.Message, Does.Contain("(Completed)"));
    }

    [Test]
    public async Task HelloOpenAndTunnelBytesInOneSend_AreEachReadExactly()
    {
        using var session = await OpenSessionAsync();
        using var peer = await RawLanePeer.ConnectAsync(RawLane);
        // The tunnel's bytes start with what looks like another Open: they are the target's all the same.
        byte[] payload = [.. RawLaneFrame.Encode(new RawLaneOpen("uncovered")), .. SocketIo.RandomBytes(50_000)];

        await peer.SendAsync([.. RawLaneFrame.Encode(Hello(session)), .. RawLaneFrame.Encode(new RawLaneOpen("echo")), .. payload]);
        peer.Socket.Shutdown(SocketShutdown.Send);

        AssertAccepted(await peer.ReceiveAsync(), "the Hello");
        AssertAccepted(await peer.ReceiveAsync(), "the Open");
        var (rest, wasReset) = await peer.ReadUntilClosedAsync();
        Assert.That(SocketIo.Sha256(rest), Is.EqualTo(SocketIo.Sha256(payload)), "the bytes after the Open, echoed");
        Assert.That(wasReset, Is.False);
        Assert.That(_uncovered.AcceptedCount, Is.Zero, "the bytes that look like an Open were not read as one");
    }

    [Test]
    public async Task AcceptedHello_WaitsWarmForItsOpen_PastTheHandshakeTimeout()
    {
        using var session = await OpenSessionAsync();
        using var warm = await RawLanePeer.ConnectAsync(RawLane);
        await warm.SendAsync(Hello(session));
        AssertAccepted(await warm.ReceiveAsync(), "the Hello");

        // A silent connection made after the Hello is closed by the handshake timeout: a clock, with no sleep. Had
        // the warm connection been held to that timeout too, it would have been closed first.
        await SilentPeerIsClosedAsync();

        await AssertEchoesAsync(warm, "echo");
    }

    [Test]
    public async Task WarmConnection_IsClosedWhenItsLeaseIsClosed_AndItsHelloNoLongerServes()
    {
        using var session = await OpenSessionAsync();
        using var warm = await RawLanePeer.ConnectAsync(RawLane);
        await warm.SendAsync(Hello(session));
        AssertAccepted(await warm.ReceiveAsync(), "the Hello");

        await Client.CloseSessionAsync(new CloseSessionRequest(), session.Headers("CloseSession", string.Empty)).ResponseAsync.DefaultTimeout();

        var (rest, wasReset) = await warm.ReadUntilClosedAsync();
        Assert.That(rest, Is.Empty, "no Reply: the connection had asked nothing");
        Assert.That(wasReset, Is.False);
        using var late = await RawLanePeer.ConnectAsync(RawLane);
        await late.SendAsync(Hello(session));
        await AssertRefusedAsync(late, StatusCode.Unauthenticated, WireLimits.LeaseUnknownDetail);
    }

    [Test]
    public async Task WarmConnectionsPastTheLeaseAllowance_AreResourceExhausted_UntilOneIsUsed()
    {
        using var session = await OpenSessionAsync();
        var allowance = session.Lease.MaxConnections + global::GitHubActionsPort.Broker.RawLane.RawLaneConnection.WarmAllowance;
        var warm = new List<RawLanePeer>();
        try
        {
            for (var i = 0; i < allowance; i++)
            {
                var peer = await RawLanePeer.ConnectAsync(RawLane);
                warm.Add(peer);
                await peer.SendAsync(Hello(session));
                AssertAccepted(await peer.ReceiveAsync(), $"Hello {i + 1} of {allowance}");
            }

            using (var oneTooMany = await RawLanePeer.ConnectAsync(RawLane))
            {
                await oneTooMany.SendAsync(Hello(session));
                var answer = await oneTooMany.ReceiveAsync();
                if (Equals(answer, RawLaneReply.Accepted))
                {
                    // The Hello proves the lease before the lease's warm connections can be counted: the refusal follows.
                    answer = await oneTooMany.ReceiveAsync();
                }

                var (rest, wasReset) = await oneTooMany.ReadUntilClosedAsync();
                Assert.That(answer, Is.TypeOf<RawLaneReply>().With.Property(nameof(RawLaneReply.Status)).EqualTo(StatusCode.ResourceExhausted));
                Assert.That(((RawLaneReply)answer).Detail, Does.Contain($"already holds {allowance}"));
                Assert.That(rest, Is.Empty);
                Assert.That(wasReset, Is.False);
            }

            // An Open takes a connection out of the warm ones, which makes room for another.
            await AssertEchoesAsync(warm[0], "echo");
            using var another = await RawLanePeer.ConnectAsync(RawLane);
            await another.SendAsync(Hello(session));
            AssertAccepted(await another.ReceiveAsync(), "a Hello once there is room");
            await AssertEchoesAsync(another, "echo");
        }
        finally
        {
            foreach (var peer in warm)
            {
                peer.Dispose();
            }
        }
    }

    [Test]
    public async Task FiveHundredSilentConnectionsAtOnce_AreAllClosedByTheHandshakeTimeout_AndTheLaneKeepsServing()
    {
        var silent = await Task.WhenAll(Enumerable.Range(0, 500).Select(_ => RawLanePeer.ConnectAsync(RawLane))).DefaultTimeout();
        try
        {
            var closing = silent.Select(peer => peer.ReadUntilClosedAsync()).ToArray();
            // Served alongside them.
            await AssertRawLaneServesAsync();

            var closed = await Task.WhenAll(closing).DefaultTimeout();

            Assert.That(closed.Count(c => c.Data.Length == 0), Is.EqualTo(silent.Length), "every one closed, without a word");
            await AssertRawLaneServesAsync();
        }
        finally
        {
            foreach (var peer in silent)
            {
                peer.Dispose();
            }
        }
    }

    [Test]
    public async Task AfterEveryKindOfRefusal_AnAgentStillTunnelsOverTheRawLane()
    {
        foreach (var refusal in NotAHello())
        {
            await NotAHelloIsRefusedAsync((byte[])refusal.Arguments[0]!, (string)refusal.Arguments[1]!);
        }

        foreach (var forgery in ForgedHellos())
        {
            await ForgedHelloIsRefusedAsync((string)forgery.Arguments[0]!, (string)forgery.Arguments[1]!);
        }

        await SilentPeerIsClosedAsync();
        await TruncatedHelloIsDroppedAsync(-1);
        await UncoveredOpenIsRefusedAsync("uncovered");

        await using var agent = await StartAgentAsync("echo");
        using var client = await SocketIo.ConnectAsync(agent["echo"]);
        var payload = SocketIo.RandomBytes(200_000);
        await client.SendAllAsync(payload);
        client.Shutdown(SocketShutdown.Send);
        var echoed = await client.ReadToEndAsync().DefaultTimeout();

        Assert.That(SocketIo.Sha256(echoed), Is.EqualTo(SocketIo.Sha256(payload)));
    }

    private async Task NotAHelloIsRefusedAsync(byte[] bytes, string words)
    {
        using var peer = await RawLanePeer.ConnectAsync(RawLane);

        await peer.SendAsync(bytes);

        await AssertRefusedAsync(peer, StatusCode.InvalidArgument, words);
    }

    private async Task SilentPeerIsClosedAsync()
    {
        using var peer = await RawLanePeer.ConnectAsync(RawLane);

        var (rest, wasReset) = await peer.ReadUntilClosedAsync();

        Assert.That(rest, Is.Empty, "no Reply to a peer that said nothing");
        Assert.That(wasReset, Is.False);
        await BrokerSaysConnectionEndedAsync(peer, "no message in time");
    }

    /// <summary>Part of a Hello (a negative <paramref name="cut"/> counts from its end), then our end of stream.</summary>
    private async Task TruncatedHelloIsDroppedAsync(int cut)
    {
        using var session = await OpenSessionAsync();
        var hello = RawLaneFrame.Encode(Hello(session));
        using var peer = await RawLanePeer.ConnectAsync(RawLane);

        await peer.SendAsync(hello[..(cut < 0 ? hello.Length + cut : cut)]);
        peer.Socket.Shutdown(SocketShutdown.Send);
        var (rest, wasReset) = await peer.ReadUntilClosedAsync();

        Assert.That(rest, Is.Empty, "no Reply to half a Hello");
        Assert.That(wasReset, Is.False);
        await BrokerSaysConnectionEndedAsync(peer, "closed in the middle of a message");
    }

    private async Task ForgedHelloIsRefusedAsync(string forgery, string words)
    {
        using var session = await OpenSessionAsync();
        using var thief = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var token = session.Lease.Token;
        var hello = forgery switch
        {
            "garbage-token" => Hello(session, token: "eyJhbGciOiJub25lIn0.eyJqdGkiOiJsc2VfMCJ9.Zm9yZ2Vk"),
            "edited-token" => Hello(session, token: token[..(token.Length / 2)] + (token[token.Length / 2] == 'A' ? 'B' : 'A') + token[(token.Length / 2 + 1)..]),
            "another-key" => Hello(session, signWith: thief),
            "tunnel-proof" => Hello(session, method: "Tunnel", target: "echo"),
            "proof-for-a-target" => Hello(session, target: "echo"),
            "stale-proof" => Hello(session, at: DateTimeOffset.UtcNow - TimeSpan.FromMinutes(5)),
            "not-a-proof" => Hello(session, proof: "not-a-proof"),
            _ => throw new ArgumentOutOfRangeException(nameof(forgery), forgery, null),
        };
        using var peer = await RawLanePeer.ConnectAsync(RawLane);

        await peer.SendAsync(hello);

        await AssertRefusedAsync(peer, StatusCode.Unauthenticated, words);
    }

    private async Task UncoveredOpenIsRefusedAsync(string target)
    {
        using var session = await OpenSessionAsync();
        using var peer = await RawLanePeer.ConnectAsync(RawLane);
        await peer.SendAsync(Hello(session));
        AssertAccepted(await peer.ReceiveAsync(), "the Hello");

        await peer.SendAsync(new RawLaneOpen(target));

        await AssertRefusedAsync(peer, StatusCode.PermissionDenied, $"does not cover target '{target}'");
        Assert.That(_uncovered.AcceptedCount, Is.Zero, "a target the lease does not cover is never dialled");
    }

    /// <summary>A fresh session's Hello and Open, then bytes there and back through the echo target.</summary>
    private async Task AssertRawLaneServesAsync()
    {
        using var session = await OpenSessionAsync();
        using var peer = await RawLanePeer.ConnectAsync(RawLane);
        await peer.SendAsync(Hello(session));
        AssertAccepted(await peer.ReceiveAsync(), "the Hello");

        await AssertEchoesAsync(peer, "echo");
    }

    /// <summary>An Open on an authenticated connection, then bytes there and back, and both ends.</summary>
    private static async Task AssertEchoesAsync(RawLanePeer peer, string target)
    {
        await peer.SendAsync(new RawLaneOpen(target));
        AssertAccepted(await peer.ReceiveAsync(), "the Open");
        var payload = SocketIo.RandomBytes(64 * 1024);

        await peer.SendAsync(payload);
        peer.Socket.Shutdown(SocketShutdown.Send);
        var (echoed, wasReset) = await peer.ReadUntilClosedAsync();

        Assert.That(SocketIo.Sha256(echoed), Is.EqualTo(SocketIo.Sha256(payload)), "echoed through the raw lane");
        Assert.That(wasReset, Is.False);
    }

    /// <summary>The broker's Reply says <paramref name="status"/> and <paramref name="words"/>, and then the connection ends cleanly with nothing more.</summary>
    private static async Task AssertRefusedAsync(RawLanePeer peer, StatusCode status, string words)
    {
        var message = await peer.ReceiveAsync();
        var (rest, wasReset) = await peer.ReadUntilClosedAsync();

        Assert.That(message, Is.TypeOf<RawLaneReply>());
        var reply = (RawLaneReply)message;
        Assert.That(reply.Status, Is.EqualTo(status), reply.Detail);
        Assert.That(reply.Detail, Does.Contain(words));
        Assert.That(rest, Is.Empty, "nothing after the refusal");
        Assert.That(wasReset, Is.False, "a clean close after the refusal, so the peer surely reads it");
    }

    private static void AssertAccepted(RawLaneMessage message, string what) =>
        Assert.That(message, Is.EqualTo(RawLaneReply.Accepted), $"the broker's answer to {what}");

    /// <summary>The broker's own account of why it ended <paramref name="peer"/>'s connection.</summary>
    private async Task BrokerSaysConnectionEndedAsync(RawLanePeer peer, string reason)
    {
        var peerName = $"ipv4:{peer.LocalEndPoint}";
        await Broker.Logs.WaitForAsync(e =>
            e.EventId.Name == "RawLaneConnectionEnded" && e.Message.Contains(peerName, StringComparison.Ordinal) && e.Message.Contains(reason, StringComparison.Ordinal)).DefaultTimeout();
    }

    private Task<RawSession> OpenSessionAsync() => RawSession.OpenAsync(Client, Issuer.MintToken("ghaport"), ["echo"]);

    private static RawLaneHello Hello(
        RawSession session, string? token = null, ECDsa? signWith = null, string method = RawLaneFrame.HelloMethod, string target = "", DateTimeOffset? at = null, string? proof = null) =>
        new(token ?? session.Lease.Token, proof ?? LeaseProof.Create(signWith ?? session.Key, method, session.Lease.LeaseId, target, at ?? DateTimeOffset.UtcNow));
}
