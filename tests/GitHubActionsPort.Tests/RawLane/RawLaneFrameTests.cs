using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using GitHubActionsPort.Protocol.RawLane;
using Grpc.Core;

namespace GitHubActionsPort.Tests.RawLane;

/// <summary>
/// The raw lane's framing on its own: every kind of message round-trips, a message is read exactly (the bytes after
/// it belong to the tunnel), each malformed form is refused as early as the bytes allow with words that say why, and
/// Encode refuses what could not travel.
/// </summary>
public sealed class RawLaneFrameTests
{
    private const byte HelloKind = 1;
    private const byte OpenKind = 2;
    private const byte ReplyKind = 3;

    /// <summary>The shape of a proof the agent makes: unix milliseconds, a 22-character nonce, an 86-character signature.</summary>
    private static readonly string Proof = "1760000000000." + new string('N', 22) + "." + new string('S', 86);

    /// <summary>What follows a message on the wire is the tunnel's, even bytes that look like another message (an Open).</summary>
    private static readonly byte[] TunnelBytes = [.. "GHPR"u8, 1, OpenKind, 0, 5, 4, .. "echo"u8, 0, 0xFF];

    public static IEnumerable<TestCaseData> Messages()
    {
        yield return Case("hello", HelloKind, new RawLaneHello("eyJhbGciOiJFUzI1NiJ9.eyJqdGkiOiJsc2VfMSJ9.c2lnbmF0dXJl", Proof));
        yield return Case("hello-shortest", HelloKind, new RawLaneHello("t", "p"));
        // 2 + the largest token + 1 + 255: a body of exactly the limit.
        yield return Case("hello-largest", HelloKind, new RawLaneHello(new string('t', RawLaneFrame.MaxTokenLength), new string('p', 255)));
        yield return Case("open", OpenKind, new RawLaneOpen("echo"));
        yield return Case("open-longest", OpenKind, new RawLaneOpen(new string('n', 255)));
        yield return Case("open-every-printable", OpenKind, new RawLaneOpen(new string([.. Enumerable.Range('!', '~' - '!' + 1).Select(c => (char)c)])));
        yield return Case("reply-accepted", ReplyKind, RawLaneReply.Accepted);
        yield return Case("reply-refused", ReplyKind, new RawLaneReply(StatusCode.PermissionDenied, "lease lse_0123456789abcdef does not cover target 'prod-db'"));
        yield return Case("reply-unicode", ReplyKind, new RawLaneReply(StatusCode.Unauthenticated, "clé refusée — 🔑\n\tline two"));
        yield return Case("reply-longest", ReplyKind, new RawLaneReply(StatusCode.Unavailable, new string('d', 1024)));

        static TestCaseData Case(string name, byte kind, RawLaneMessage message) => new TestCaseData(message, kind).SetArgDisplayNames(name);
    }

    [TestCaseSource(nameof(Messages))]
    public void EachMessage_RoundTrips_WithItsHeader(RawLaneMessage sent, byte kind)
    {
        var frame = RawLaneFrame.Encode(sent);
        var buffer = new ReadOnlySequence<byte>(frame);

        var status = RawLaneFrame.TryRead(ref buffer, out var received, out var error);

        Assert.Multiple(() =>
        {
            Assert.That(status, Is.EqualTo(RawLaneReadStatus.Read), error);
            Assert.That(received, Is.EqualTo(sent));
            Assert.That(error, Is.Null);
            Assert.That(buffer.IsEmpty, "the whole frame is consumed");
            Assert.That(frame[..4], Is.EqualTo("GHPR"u8.ToArray()), "magic");
            Assert.That(frame[4], Is.EqualTo(RawLaneFrame.Version), "version");
            Assert.That(frame[5], Is.EqualTo(kind), "kind");
            Assert.That(BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(6)), Is.EqualTo(frame.Length - RawLaneFrame.HeaderLength).And.LessThanOrEqualTo(RawLaneFrame.MaxBodyLength), "big-endian body length");
        });
    }

    [TestCaseSource(nameof(Messages))]
    public void FedOneByteAtATime_NeedsMoreUntilWhole_ThenLeavesTheTunnelBytes(RawLaneMessage sent, byte kind)
    {
        var frame = RawLaneFrame.Encode(sent);
        byte[] stream = [.. frame, .. TunnelBytes];

        // One segment per byte, as if each byte had arrived in a read of its own.
        var arrived = SegmentedSequence.ByteByByte(stream);
        for (var fed = 0; fed < frame.Length; fed++)
        {
            var buffer = arrived.Slice(0, fed);
            var before = buffer;
            var status = RawLaneFrame.TryRead(ref buffer, out var message, out var error);
            if (status != RawLaneReadStatus.NeedMore || message is not null || error is not null || !Unchanged(buffer, before))
            {
                Assert.Fail($"after {fed} of {frame.Length} bytes of a {kind} frame: {status} ({error}), message {message}, buffer unchanged: {Unchanged(buffer, before)}");
            }
        }

        for (var extra = 0; extra <= TunnelBytes.Length; extra++)
        {
            var buffer = arrived.Slice(0, frame.Length + extra);
            var end = buffer.End;

            var status = RawLaneFrame.TryRead(ref buffer, out var received, out var error);

            Assert.Multiple(() =>
            {
                Assert.That(status, Is.EqualTo(RawLaneReadStatus.Read), error);
                Assert.That(received, Is.EqualTo(sent));
                Assert.That(buffer.ToArray(), Is.EqualTo(TunnelBytes[..extra]), $"the {extra} bytes after the message are left");
                Assert.That(buffer.End, Is.EqualTo(end), "the rest ends where the input ended");
            });
        }
    }

    [TestCaseSource(nameof(Messages))]
    public void SplitIntoSegmentsAnywhere_ReadsTheSameMessage(RawLaneMessage sent, byte kind)
    {
        var frame = RawLaneFrame.Encode(sent);
        byte[] stream = [.. frame, .. TunnelBytes];
        var failures = new List<string>();

        for (var cut = 0; cut <= stream.Length; cut++)
        {
            // Two segments, and three with an empty one between them.
            foreach (int[] cuts in (int[][])[[cut], [cut, cut]])
            {
                var buffer = SegmentedSequence.Split(stream, cuts);
                var status = RawLaneFrame.TryRead(ref buffer, out var received, out var error);
                if (status != RawLaneReadStatus.Read || !Equals(received, sent) || !buffer.ToArray().AsSpan().SequenceEqual(TunnelBytes))
                {
                    failures.Add($"cut at {string.Join(",", cuts)}: {status} ({error}), {received}, {buffer.Length} bytes left");
                }
            }
        }

        Assert.That(failures, Is.Empty, $"a {kind} frame of {frame.Length} bytes");
    }

    public static IEnumerable<TestCaseData> Malformed()
    {
        // The magic: refused from the first byte that differs.
        yield return Case("one-wrong-byte", "X"u8.ToArray(), 1, "wrong magic");
        yield return Case("lower-case-magic", "ghpr"u8.ToArray(), 1, "wrong magic");
        yield return Case("second-byte-wrong", "GX"u8.ToArray(), 2, "wrong magic");
        yield return Case("http2-preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray(), 1, "wrong magic");
        yield return Case("http1-request", "GET / HTTP/1.1\r\nHost: broker\r\n\r\n"u8.ToArray(), 2, "wrong magic");
        yield return Case("tls-client-hello", [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03], 1, "wrong magic");
        yield return Case("ssh-banner", "SSH-2.0-OpenSSH_9.6\r\n"u8.ToArray(), 1, "wrong magic");

        // The version: refused at the fifth byte, and the words name it.
        yield return Case("version-0", Header(0, HelloKind, 4), 5, "version 0");
        yield return Case("version-2", [.. Header(2, HelloKind, 4), .. Wide(1), (byte)'t', .. Short(0)], 5, "version 2 is not supported");
        yield return Case("version-255", Header(255, OpenKind, 2), 5, "version 255");

        // The kind: refused at the sixth byte.
        yield return Case("kind-0", Header(1, 0, 0), 6, "kind 0");
        yield return Case("kind-4", Header(1, 4, 0), 6, "kind 4");
        yield return Case("kind-255", Header(1, 255, 0), 6, "kind 255");

        // An oversized body: refused from the header alone, before any of the body arrives.
        yield return Case("hello-over-limit", [.. Header(1, HelloKind, RawLaneFrame.MaxBodyLength + 1), .. new byte[100]], 8, $"{RawLaneFrame.MaxBodyLength + 1} bytes is over the limit of {RawLaneFrame.MaxBodyLength}");
        yield return Case("open-65535", [.. Header(1, OpenKind, 65535), .. new byte[100]], 8, "65535 bytes");
        yield return Case("reply-32768", [.. Header(1, ReplyKind, 32768), .. new byte[100]], 8, "32768 bytes");

        // Fields cut short inside a body whose declared length is all there.
        yield return Body("hello-empty", HelloKind, []);
        yield return Body("hello-half-a-length", HelloKind, [0x00]);
        yield return Body("hello-token-cut", HelloKind, [.. Wide(10), .. "abcde"u8]);
        yield return Body("hello-no-proof", HelloKind, [.. Wide(3), .. "abc"u8]);
        yield return Body("hello-proof-cut", HelloKind, [.. Wide(3), .. "abc"u8, .. Short(5), .. "pp"u8]);
        yield return Body("open-empty", OpenKind, []);
        yield return Body("open-target-cut", OpenKind, [.. Short(5), .. "ech"u8]);
        yield return Body("reply-empty", ReplyKind, []);
        yield return Body("reply-status-only", ReplyKind, [0]);
        yield return Body("reply-half-a-length", ReplyKind, [0, 0]);
        yield return Body("reply-detail-cut", ReplyKind, [0, .. Wide(10), .. "abc"u8]);

        // Trailing bytes inside the body.
        yield return Body("hello-trailing", HelloKind, [.. Wide(1), (byte)'t', .. Short(1), (byte)'p', 0]);
        yield return Body("open-trailing", OpenKind, [.. Short(4), .. "echo"u8, (byte)'x']);
        yield return Body("reply-trailing", ReplyKind, [0, .. Wide(0), 0]);

        // Empty strings.
        yield return Body("hello-empty-token", HelloKind, [.. Wide(0), .. Short(1), (byte)'p']);
        yield return Body("hello-empty-proof", HelloKind, [.. Wide(1), (byte)'t', .. Short(0)]);
        yield return Body("open-empty-target", OpenKind, Short(0));

        // Strings that are not printable ASCII.
        foreach (var (name, bad) in new (string, byte)[] { ("space", 0x20), ("nul", 0x00), ("newline", 0x0A), ("tab", 0x09), ("del", 0x7F), ("high", 0x80), ("ff", 0xFF) })
        {
            yield return Body($"open-target-{name}", OpenKind, [.. Short(3), (byte)'a', bad, (byte)'b']);
        }

        yield return Body("open-target-utf8", OpenKind, [.. Short(3), (byte)'a', 0xC3, 0xA9]);
        yield return Body("hello-token-space", HelloKind, [.. Wide(3), (byte)'a', 0x20, (byte)'b', .. Short(1), (byte)'p']);
        yield return Body("hello-proof-control", HelloKind, [.. Wide(1), (byte)'t', .. Short(2), (byte)'p', 0x1B]);

        // Strings over their limits, in a body under its own.
        yield return Body("hello-token-over-limit", HelloKind, [.. Wide(RawLaneFrame.MaxTokenLength + 1), .. Enumerable.Repeat((byte)'t', RawLaneFrame.MaxTokenLength + 1), .. Short(1), (byte)'p']);
        yield return Body("reply-detail-1025", ReplyKind, [0, .. Wide(1025), .. Enumerable.Repeat((byte)'d', 1025)]);

        // Reply status past the last gRPC status (16).
        yield return Body("reply-status-17", ReplyKind, [17, .. Wide(0)]);
        yield return Body("reply-status-255", ReplyKind, [255, .. Wide(2), .. "no"u8]);

        // Reply detail that is not UTF-8.
        yield return Body("reply-detail-ff", ReplyKind, [0, .. Wide(1), 0xFF]);
        yield return Body("reply-detail-cut-sequence", ReplyKind, [0, .. Wide(2), (byte)'a', 0xC3]);
        yield return Body("reply-detail-overlong", ReplyKind, [0, .. Wide(2), 0xC0, 0xAF]);
        yield return Body("reply-detail-surrogate", ReplyKind, [0, .. Wide(3), 0xED, 0xA0, 0x80]);
        yield return Body("reply-detail-past-unicode", ReplyKind, [0, .. Wide(4), 0xF4, 0x90, 0x80, 0x80]);

        static TestCaseData Case(string name, byte[] bytes, int decidedAt, string words) => new TestCaseData(bytes, decidedAt, words).SetArgDisplayNames(name);

        static TestCaseData Body(string name, byte kind, byte[] body)
        {
            var words = kind switch { HelloKind => "malformed raw-lane Hello", OpenKind => "malformed raw-lane Open", _ => "malformed raw-lane Reply" };
            byte[] frame = [.. Header(1, kind, body.Length), .. body];
            return Case(name, frame, frame.Length, words);
        }
    }

    /// <summary>
    /// Every prefix shorter than <paramref name="decidedAt"/> still needs more; from there on, whole or one byte per
    /// segment, the bytes are invalid, the words say why, and nothing is consumed.
    /// </summary>
    [TestCaseSource(nameof(Malformed))]
    public void Malformed_IsInvalid_AsSoonAsTheBytesShowIt(byte[] bytes, int decidedAt, string words)
    {
        var failures = new List<string>();
        var byteByByte = SegmentedSequence.ByteByByte(bytes);
        for (var length = 0; length <= bytes.Length; length++)
        {
            foreach (var (shape, input) in new[] { ("whole", new ReadOnlySequence<byte>(bytes, 0, length)), ("byte-by-byte", byteByByte.Slice(0, length)) })
            {
                var buffer = input;
                var status = RawLaneFrame.TryRead(ref buffer, out var message, out var error);
                var expected = length < decidedAt ? RawLaneReadStatus.NeedMore : RawLaneReadStatus.Invalid;
                var wordsOk = expected == RawLaneReadStatus.NeedMore ? error is null : error?.Contains(words, StringComparison.Ordinal) == true;
                if (status != expected || message is not null || !wordsOk || !Unchanged(buffer, input))
                {
                    failures.Add($"{length} bytes ({shape}): {status}, error '{error}', message {message}, unchanged {Unchanged(buffer, input)}; expected {expected} '{words}'");
                }
            }
        }

        Assert.That(failures, Is.Empty);
    }

    [Test]
    public void BodyOfExactlyTheLimit_WaitsForItsBody()
    {
        // The largest legal length, with no body yet: not refused, just not whole.
        var buffer = new ReadOnlySequence<byte>(Header(1, HelloKind, RawLaneFrame.MaxBodyLength));

        var status = RawLaneFrame.TryRead(ref buffer, out _, out var error);

        Assert.That(status, Is.EqualTo(RawLaneReadStatus.NeedMore), error);
    }

    [Test]
    public void LongReplyDetail_IsShortenedToFit_AndStillReads()
    {
        var detail = string.Concat(Enumerable.Repeat("target 'ünïcödé' is down 🔥; ", 200));
        var buffer = new ReadOnlySequence<byte>(RawLaneFrame.Encode(new RawLaneReply(StatusCode.Unavailable, detail)));

        var status = RawLaneFrame.TryRead(ref buffer, out var message, out var error);

        Assert.That(status, Is.EqualTo(RawLaneReadStatus.Read), error);
        var reply = (RawLaneReply)message!;
        Assert.Multiple(() =>
        {
            Assert.That(reply.Status, Is.EqualTo(StatusCode.Unavailable));
            Assert.That(reply.Detail, Does.EndWith("..."));
            Assert.That(detail, Does.StartWith(reply.Detail[..^3]));
            Assert.That(Encoding.UTF8.GetByteCount(reply.Detail), Is.LessThanOrEqualTo(1024));
        });
    }

    public static IEnumerable<TestCaseData> Unencodable()
    {
        yield return Case("hello-empty-token", new RawLaneHello("", Proof));
        yield return Case("hello-empty-proof", new RawLaneHello("token", ""));
        yield return Case("hello-token-over-limit", new RawLaneHello(new string('t', RawLaneFrame.MaxTokenLength + 1), "p"));
        yield return Case("hello-proof-256", new RawLaneHello("token", new string('p', 256)));
        yield return Case("hello-token-space", new RawLaneHello("lease token", Proof));
        yield return Case("hello-token-nul", new RawLaneHello("token\0", Proof));
        yield return Case("hello-token-non-ascii", new RawLaneHello("tökén", Proof));
        yield return Case("hello-proof-newline", new RawLaneHello("token", Proof + "\n"));
        yield return Case("open-empty", new RawLaneOpen(""));
        yield return Case("open-256", new RawLaneOpen(new string('n', 256)));
        yield return Case("open-space", new RawLaneOpen("prod db"));
        yield return Case("open-tab", new RawLaneOpen("\t"));
        yield return Case("open-del", new RawLaneOpen("echo\u007f"));
        yield return Case("open-non-ascii", new RawLaneOpen("écho"));
        yield return Case("open-surrogate-pair", new RawLaneOpen("🔑"));

        static TestCaseData Case(string name, RawLaneMessage message) => new TestCaseData(message).SetArgDisplayNames(name);
    }

    [TestCaseSource(nameof(Unencodable))]
    public void FieldThatCannotTravel_IsRefusedByEncode(RawLaneMessage message)
    {
        var refusal = Assert.Throws<ArgumentException>(() => RawLaneFrame.Encode(message));

        Assert.That(refusal!.Message, Does.Contain("printable ASCII"));
    }

    [Test]
    public void MessageOfAnotherKind_IsRefusedByEncode()
    {
        var refusal = Assert.Throws<ArgumentException>(() => RawLaneFrame.Encode(new Stranger()));

        Assert.That(refusal!.Message, Does.Contain(nameof(Stranger)));
    }

    /// <summary>
    /// What Encode accepts must be readable at the other end: refused by Encode, or read back as sent. The broker
    /// issues lease tokens of up to 8 KiB, and a proof as the agent makes one is 123 characters.
    /// </summary>
    [TestCase(3971, 123)]
    [TestCase(8192, 123)]
    [TestCase(8192, 255)]
    [TestCase(8193, 123)]
    public void EncodedHello_IsRefusedByEncode_OrReadBack(int tokenLength, int proofLength)
    {
        var sent = new RawLaneHello(new string('t', tokenLength), new string('p', proofLength));

        AssertRefusedOrReadBack(sent);
    }

    [TestCase(StatusCode.OK)]
    [TestCase(StatusCode.Unauthenticated)]
    [TestCase((StatusCode)17)]
    [TestCase((StatusCode)256)]
    [TestCase((StatusCode)(-1))]
    public void EncodedReply_IsRefusedByEncode_OrReadBack(StatusCode status)
    {
        AssertRefusedOrReadBack(new RawLaneReply(status, "detail"));
    }

    private static void AssertRefusedOrReadBack(RawLaneMessage sent)
    {
        byte[] frame;
        try
        {
            frame = RawLaneFrame.Encode(sent);
        }
        catch (ArgumentException)
        {
            Assert.Pass("refused by Encode");
            return;
        }

        var buffer = new ReadOnlySequence<byte>(frame);
        var status = RawLaneFrame.TryRead(ref buffer, out var received, out var error);

        Assert.That(status, Is.EqualTo(RawLaneReadStatus.Read), $"Encode made {frame.Length} bytes that do not read back: {error}");
        Assert.That(received, Is.EqualTo(sent));
    }

    private static bool Unchanged(ReadOnlySequence<byte> after, ReadOnlySequence<byte> before) =>
        after.Start.Equals(before.Start) && after.End.Equals(before.End);

    private static byte[] Header(byte version, byte kind, int bodyLength) =>
        [.. "GHPR"u8, version, kind, (byte)(bodyLength >> 8), (byte)bodyLength];

    private static byte[] Wide(int length) => [(byte)(length >> 8), (byte)length];

    private static byte[] Short(int length) => [(byte)length];

    private sealed record Stranger : RawLaneMessage;
}
