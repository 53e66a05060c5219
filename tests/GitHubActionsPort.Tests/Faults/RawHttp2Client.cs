using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Grpc.Core;

namespace GitHubActionsPort.Tests.Faults;

/// <summary>
/// A deliberately minimal HTTP/2 client over one plain TCP connection (h2c, prior knowledge), for tests that must
/// misbehave in ways a real client never would: open and reset streams by the thousand, exceed the server's stream
/// limit, declare oversized messages, or never read. Frames are built by hand and written as the test says; frames
/// read back are returned as they are, with header blocks decoded.
/// </summary>
internal sealed class RawHttp2Client : IAsyncDisposable
{
    private static readonly byte[] Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray();

    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly Hpack _hpack = new();
    private readonly byte[] _frameHeader = new byte[9];

    private RawHttp2Client(Socket socket, string authority)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: false);
        Authority = authority;
    }

    /// <summary>The <c>:authority</c> of requests on this connection.</summary>
    public string Authority { get; }

    /// <summary>This end of the connection, as the server names its peer.</summary>
    public IPEndPoint LocalEndPoint => (IPEndPoint)_socket.LocalEndPoint!;

    /// <summary>Connects and sends the connection preface with a SETTINGS frame of <paramref name="settings"/> (none: the protocol defaults).</summary>
    public static async Task<RawHttp2Client> ConnectAsync(Uri server, params (Http2Setting Setting, uint Value)[] settings)
    {
        ArgumentNullException.ThrowIfNull(server);
        var endPoint = new IPEndPoint(IPAddress.Parse(server.Host), server.Port);
        var socket = await SocketIo.ConnectAsync(endPoint);
        var client = new RawHttp2Client(socket, $"{server.Host}:{server.Port}");
        var settingsPayload = new byte[settings.Length * 6];
        for (var i = 0; i < settings.Length; i++)
        {
            BinaryPrimitives.WriteUInt16BigEndian(settingsPayload.AsSpan(i * 6), (ushort)settings[i].Setting);
            BinaryPrimitives.WriteUInt32BigEndian(settingsPayload.AsSpan((i * 6) + 2), settings[i].Value);
        }

        await client.WriteAsync((byte[])[.. Preface, .. Frame(Http2FrameType.Settings, 0, 0, settingsPayload)]);
        return client;
    }

    /// <summary>The request headers of a gRPC call to <paramref name="method"/> (such as <c>/ghaport.v1.Broker/Tunnel</c>), then <paramref name="metadata"/>.</summary>
    public List<KeyValuePair<string, string>> GrpcRequestHeaders(string method, Metadata? metadata = null)
    {
        var headers = new List<KeyValuePair<string, string>>
        {
            new(":method", "POST"),
            new(":scheme", "http"),
            new(":path", method),
            new(":authority", Authority),
            new("content-type", "application/grpc"),
            new("te", "trailers"),
        };
        foreach (var entry in metadata ?? [])
        {
            headers.Add(new(entry.Key, entry.Value));
        }

        return headers;
    }

    /// <summary>A HEADERS frame carrying the whole header block (END_HEADERS), optionally ending the stream.</summary>
    public static byte[] HeadersFrame(int streamId, IEnumerable<KeyValuePair<string, string>> headers, bool endStream = false) =>
        Frame(Http2FrameType.Headers, (byte)(Http2Frame.EndHeadersFlag | (endStream ? Http2Frame.EndStreamFlag : 0)), streamId, Hpack.Encode(headers));

    public static byte[] DataFrame(int streamId, ReadOnlySpan<byte> data, bool endStream = false) =>
        Frame(Http2FrameType.Data, endStream ? Http2Frame.EndStreamFlag : (byte)0, streamId, data);

    public static byte[] RstStreamFrame(int streamId, Http2ErrorCode errorCode)
    {
        var payload = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(payload, (uint)errorCode);
        return Frame(Http2FrameType.RstStream, 0, streamId, payload);
    }

    public static byte[] PingFrame(ulong opaque, bool ack = false)
    {
        var payload = new byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(payload, opaque);
        return Frame(Http2FrameType.Ping, ack ? Http2Frame.AckFlag : (byte)0, 0, payload);
    }

    public static byte[] SettingsAckFrame() => Frame(Http2FrameType.Settings, Http2Frame.AckFlag, 0, []);

    /// <summary>The 5-byte prefix of a gRPC message on HTTP/2: not compressed, <paramref name="length"/> bytes to follow.</summary>
    public static byte[] GrpcMessagePrefix(uint length)
    {
        var prefix = new byte[5];
        BinaryPrimitives.WriteUInt32BigEndian(prefix.AsSpan(1), length);
        return prefix;
    }

    /// <summary>Writes bytes as they are: one frame, or a burst of many built beforehand.</summary>
    public async Task WriteAsync(ReadOnlyMemory<byte> bytes) => await _stream.WriteAsync(bytes).AsTask().DefaultTimeout();

    /// <summary>
    /// The next frame, or null once the server has closed the connection (FIN, or a reset after its last frame).
    /// SETTINGS and PING from the server are acknowledged as a client must, and returned too.
    /// </summary>
    public async Task<Http2Frame?> ReadFrameAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            await _stream.ReadExactlyAsync(_frameHeader, cancellationToken);
        }
        catch (Exception ex) when (ex is EndOfStreamException or IOException { InnerException: SocketException { SocketErrorCode: SocketError.ConnectionReset } })
        {
            return null;
        }

        var length = (_frameHeader[0] << 16) | (_frameHeader[1] << 8) | _frameHeader[2];
        var type = (Http2FrameType)_frameHeader[3];
        var flags = _frameHeader[4];
        var streamId = (int)(BinaryPrimitives.ReadUInt32BigEndian(_frameHeader.AsSpan(5)) & 0x7fffffff);
        var payload = new byte[length];
        await _stream.ReadExactlyAsync(payload, cancellationToken);
        var frame = new Http2Frame(type, flags, streamId, payload);
        switch (type)
        {
            case Http2FrameType.Headers:
                if ((flags & Http2Frame.EndHeadersFlag) == 0)
                {
                    throw new NotSupportedException("The server split a header block across CONTINUATION frames; this test client does not join them.");
                }

                frame = frame with { Headers = _hpack.Decode(HeaderBlock(flags, payload)) };
                break;
            case Http2FrameType.Settings when !frame.IsAck:
                await WriteAsync(SettingsAckFrame());
                break;
            case Http2FrameType.Ping when !frame.IsAck:
                await WriteAsync(PingFrame(BinaryPrimitives.ReadUInt64BigEndian(payload), ack: true));
                break;
        }

        return frame;
    }

    /// <summary>Reads frames until one matches (returned) or the connection ends (null); every frame read is added to <paramref name="seen"/>.</summary>
    public async Task<Http2Frame?> ReadUntilAsync(Func<Http2Frame, bool> match, List<Http2Frame>? seen = null)
    {
        ArgumentNullException.ThrowIfNull(match);
        while (await ReadFrameAsync() is { } frame)
        {
            seen?.Add(frame);
            if (match(frame))
            {
                return frame;
            }
        }

        return null;
    }

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
        _socket.Dispose();
    }

    private static ReadOnlySpan<byte> HeaderBlock(byte flags, byte[] payload)
    {
        var block = payload.AsSpan();
        var padding = 0;
        if ((flags & Http2Frame.PaddedFlag) != 0)
        {
            padding = block[0];
            block = block[1..];
        }

        if ((flags & Http2Frame.PriorityFlag) != 0)
        {
            block = block[5..];
        }

        return block[..^padding];
    }

    private static byte[] Frame(Http2FrameType type, byte flags, int streamId, ReadOnlySpan<byte> payload)
    {
        var frame = new byte[9 + payload.Length];
        frame[0] = (byte)(payload.Length >> 16);
        frame[1] = (byte)(payload.Length >> 8);
        frame[2] = (byte)payload.Length;
        frame[3] = (byte)type;
        frame[4] = flags;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(5), (uint)streamId);
        payload.CopyTo(frame.AsSpan(9));
        return frame;
    }
}
