using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using Grpc.Core;

namespace GitHubActionsPort.Protocol.RawLane;

/// <summary>
/// The raw lane's framing, used only for the few messages before a connection carries a tunnel (after that there
/// is none: the bytes are the tunnel's). Each message: the magic <c>GHPR</c>, a version byte, a kind byte and a
/// big-endian 16-bit body length, then the body. Bodies are bounded by <see cref="MaxBodyLength"/> and read whole
/// or refused: a peer cannot make either end buffer more, or read past the message into the tunnel's bytes.
/// Strings are length-prefixed; tokens, proofs and target names must be printable ASCII.
/// </summary>
public static class RawLaneFrame
{
    /// <summary>The one version both ends speak. A new version is a new number, refused by an end that lacks it.</summary>
    public const byte Version = 1;

    /// <summary>Magic, version, kind and length.</summary>
    public const int HeaderLength = 8;

    /// <summary>
    /// The largest lease token either end accepts: the broker's own limit for the tokens it issues and reads (a
    /// lease naming many targets for a job with a long subject grows past 4 KiB).
    /// </summary>
    public const int MaxTokenLength = 8 * 1024;

    /// <summary>The largest Hello: the largest lease token and the longest proof, each with its length. Anything larger is not ours.</summary>
    public const int MaxBodyLength = 2 + MaxTokenLength + 1 + MaxShortString;

    /// <summary>The TLS ALPN protocol id of the raw lane: a TLS client that does not ask for it is not one of ours.</summary>
    public const string ApplicationProtocol = "ghaport-raw/1";

    /// <summary>The method name a Hello's proof of possession is signed for (with an empty target).</summary>
    public const string HelloMethod = "RawLane";

    private const int MaxShortString = byte.MaxValue;
    private const int MaxDetailLength = 1024;

    private static ReadOnlySpan<byte> Magic => "GHPR"u8;

    private enum Kind : byte
    {
        Hello = 1,
        Open = 2,
        Reply = 3,
    }

    /// <summary>The bytes of <paramref name="message"/>, header included.</summary>
    public static byte[] Encode(RawLaneMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var body = new ArrayBufferWriter<byte>(256);
        Kind kind;
        switch (message)
        {
            case RawLaneHello hello:
                kind = Kind.Hello;
                WriteAscii(body, hello.LeaseToken, MaxTokenLength, wide: true);
                WriteAscii(body, hello.Proof, MaxShortString, wide: false);
                break;
            case RawLaneOpen open:
                kind = Kind.Open;
                WriteAscii(body, open.Target, MaxShortString, wide: false);
                break;
            case RawLaneReply reply:
                kind = Kind.Reply;
                if (reply.Status is < StatusCode.OK or > StatusCode.Unauthenticated)
                {
                    throw new ArgumentOutOfRangeException(nameof(message), reply.Status, "a raw-lane reply carries a gRPC status code (0 to 16).");
                }

                body.Write([(byte)reply.Status]);
                var detail = Encoding.UTF8.GetBytes(Shorten(reply.Detail));
                WriteLength(body, detail.Length, wide: true);
                body.Write(detail);
                break;
            default:
                throw new ArgumentException($"'{message.GetType().Name}' is not a raw-lane message.", nameof(message));
        }

        if (body.WrittenCount > MaxBodyLength)
        {
            throw new ArgumentException($"a raw-lane message of {body.WrittenCount} bytes is over the limit of {MaxBodyLength}.", nameof(message));
        }

        var frame = new byte[HeaderLength + body.WrittenCount];
        Magic.CopyTo(frame);
        frame[4] = Version;
        frame[5] = (byte)kind;
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(6), checked((ushort)body.WrittenCount));
        body.WrittenSpan.CopyTo(frame.AsSpan(HeaderLength));
        return frame;
    }

    /// <summary>
    /// Reads one message from the front of <paramref name="buffer"/>. On <see cref="RawLaneReadStatus.Read"/> the
    /// buffer is advanced past it (what follows is the tunnel's); on <see cref="RawLaneReadStatus.NeedMore"/> it is
    /// unchanged; on <see cref="RawLaneReadStatus.Invalid"/>, <paramref name="error"/> says why. Never throws for
    /// any input, and decides as early as the bytes allow (a wrong magic in the first byte is refused at once).
    /// </summary>
    public static RawLaneReadStatus TryRead(ref ReadOnlySequence<byte> buffer, out RawLaneMessage? message, out string? error)
    {
        message = null;
        error = null;
        Span<byte> header = stackalloc byte[HeaderLength];
        var available = (int)Math.Min(buffer.Length, HeaderLength);
        buffer.Slice(0, available).CopyTo(header);

        var magicSeen = Math.Min(available, Magic.Length);
        if (!header[..magicSeen].SequenceEqual(Magic[..magicSeen]))
        {
            error = "not a ghaport raw-lane message (wrong magic)";
            return RawLaneReadStatus.Invalid;
        }

        if (available > 4 && header[4] != Version)
        {
            error = $"raw-lane version {header[4]} is not supported; this end speaks version {Version}";
            return RawLaneReadStatus.Invalid;
        }

        if (available > 5 && !Enum.IsDefined((Kind)header[5]))
        {
            error = $"unknown raw-lane message kind {header[5]}";
            return RawLaneReadStatus.Invalid;
        }

        if (available < HeaderLength)
        {
            return RawLaneReadStatus.NeedMore;
        }

        var length = BinaryPrimitives.ReadUInt16BigEndian(header[6..]);
        if (length > MaxBodyLength)
        {
            error = $"a raw-lane message of {length} bytes is over the limit of {MaxBodyLength}";
            return RawLaneReadStatus.Invalid;
        }

        if (buffer.Length < HeaderLength + length)
        {
            return RawLaneReadStatus.NeedMore;
        }

        var body = buffer.Slice(HeaderLength, length);
        var reader = new SequenceReader<byte>(body);
        message = (Kind)header[5] switch
        {
            Kind.Hello => ReadAscii(ref reader, wide: true, MaxTokenLength) is { } token && ReadAscii(ref reader, wide: false, MaxShortString) is { } proof
                ? new RawLaneHello(token, proof) : null,
            Kind.Open => ReadAscii(ref reader, wide: false, MaxShortString) is { } target ? new RawLaneOpen(target) : null,
            _ => ReadReply(ref reader),
        };

        if (message is null || !reader.End)
        {
            message = null;
            error = $"malformed raw-lane {(Kind)header[5]} message";
            return RawLaneReadStatus.Invalid;
        }

        buffer = buffer.Slice(HeaderLength + length);
        return RawLaneReadStatus.Read;
    }

    private static RawLaneReply? ReadReply(ref SequenceReader<byte> reader)
    {
        if (!reader.TryRead(out var status) || status > (byte)StatusCode.Unauthenticated || !TryReadLength(ref reader, wide: true, out var length) || length > MaxDetailLength)
        {
            return null;
        }

        var bytes = new byte[length];
        if (!reader.TryCopyTo(bytes))
        {
            return null;
        }

        reader.Advance(length);
        try
        {
            return new RawLaneReply((StatusCode)status, new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes));
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
    }

    private static string? ReadAscii(ref SequenceReader<byte> reader, bool wide, int maxLength)
    {
        if (!TryReadLength(ref reader, wide, out var length) || length == 0 || length > maxLength || reader.Remaining < length)
        {
            return null;
        }

        var bytes = new byte[length];
        reader.TryCopyTo(bytes);
        reader.Advance(length);
        foreach (var b in bytes)
        {
            if (b is < 0x21 or > 0x7E)
            {
                return null;
            }
        }

        return Encoding.ASCII.GetString(bytes);
    }

    private static bool TryReadLength(ref SequenceReader<byte> reader, bool wide, out int length)
    {
        length = 0;
        if (wide)
        {
            if (!reader.TryReadBigEndian(out short value))
            {
                return false;
            }

            length = (ushort)value;
            return true;
        }

        if (!reader.TryRead(out var small))
        {
            return false;
        }

        length = small;
        return true;
    }

    private static void WriteAscii(ArrayBufferWriter<byte> body, string text, int maxLength, bool wide)
    {
        if (text.Length == 0 || text.Length > maxLength || text.Any(c => c is < '!' or > '~'))
        {
            throw new ArgumentException($"a raw-lane field must be 1 to {maxLength} printable ASCII characters.", nameof(text));
        }

        WriteLength(body, text.Length, wide);
        body.Write(Encoding.ASCII.GetBytes(text));
    }

    private static void WriteLength(ArrayBufferWriter<byte> body, int length, bool wide)
    {
        if (wide)
        {
            BinaryPrimitives.WriteUInt16BigEndian(body.GetSpan(2), (ushort)length);
            body.Advance(2);
        }
        else
        {
            body.Write([(byte)length]);
        }
    }

    /// <summary>A reply's words fit the limit whole characters at a time.</summary>
    private static string Shorten(string detail)
    {
        if (Encoding.UTF8.GetByteCount(detail) <= MaxDetailLength)
        {
            return detail;
        }

        // Four bytes at most per character, and three for the dots.
        var cut = detail[..Math.Min(detail.Length, (MaxDetailLength - 3) / 4)];
        return cut + "...";
    }
}
