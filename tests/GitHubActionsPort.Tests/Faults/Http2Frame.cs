using System.Buffers.Binary;

namespace GitHubActionsPort.Tests.Faults;

/// <summary>One frame read from the server; a HEADERS frame comes with its header block decoded.</summary>
internal sealed record Http2Frame(Http2FrameType Type, byte Flags, int StreamId, byte[] Payload)
{
    public const byte EndStreamFlag = 0x1;
    public const byte AckFlag = 0x1;
    public const byte EndHeadersFlag = 0x4;
    public const byte PaddedFlag = 0x8;
    public const byte PriorityFlag = 0x20;

    /// <summary>The decoded header fields of a HEADERS frame, in order; empty for other frames.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Headers { get; init; } = [];

    public bool EndStream => Type is Http2FrameType.Data or Http2FrameType.Headers && (Flags & EndStreamFlag) != 0;

    public bool IsAck => Type is Http2FrameType.Settings or Http2FrameType.Ping && (Flags & AckFlag) != 0;

    /// <summary>The error code of a RST_STREAM or GOAWAY frame.</summary>
    public Http2ErrorCode ErrorCode => Type switch
    {
        Http2FrameType.RstStream => (Http2ErrorCode)BinaryPrimitives.ReadUInt32BigEndian(Payload),
        Http2FrameType.GoAway => (Http2ErrorCode)BinaryPrimitives.ReadUInt32BigEndian(Payload.AsSpan(4)),
        _ => throw new InvalidOperationException($"A {Type} frame has no error code."),
    };

    /// <summary>The last stream a GOAWAY says the server processed.</summary>
    public int LastStreamId => Type == Http2FrameType.GoAway
        ? (int)(BinaryPrimitives.ReadUInt32BigEndian(Payload) & 0x7fffffff)
        : throw new InvalidOperationException($"A {Type} frame has no last stream id.");

    /// <summary>The parameters of a SETTINGS frame.</summary>
    public IReadOnlyDictionary<Http2Setting, uint> Settings
    {
        get
        {
            var settings = new Dictionary<Http2Setting, uint>();
            for (var i = 0; Type == Http2FrameType.Settings && i + 6 <= Payload.Length; i += 6)
            {
                settings[(Http2Setting)BinaryPrimitives.ReadUInt16BigEndian(Payload.AsSpan(i))] = BinaryPrimitives.ReadUInt32BigEndian(Payload.AsSpan(i + 2));
            }

            return settings;
        }
    }

    /// <summary>The value of header field <paramref name="name"/>, or null.</summary>
    public string? Header(string name) => Headers.FirstOrDefault(h => h.Key == name).Value;

    public override string ToString() => Type switch
    {
        Http2FrameType.RstStream => $"RST_STREAM stream {StreamId} {ErrorCode}",
        Http2FrameType.GoAway => $"GOAWAY last stream {LastStreamId} {ErrorCode}",
        Http2FrameType.Headers => $"HEADERS stream {StreamId}{(EndStream ? " END_STREAM" : "")} {string.Join(", ", Headers.Select(h => h.Key + ": " + h.Value))}",
        _ => $"{Type} stream {StreamId} flags 0x{Flags:x2}, {Payload.Length} bytes",
    };
}
