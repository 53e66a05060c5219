using System.Text;

namespace GitHubActionsPort.Tests.Faults;

/// <summary>
/// Just enough HPACK (RFC 7541) for a test client: requests are encoded as literals without indexing (no table state
/// to keep in step), and one connection's responses are decoded with the static and dynamic tables. Huffman-coded
/// strings are refused: Kestrel does not send them.
/// </summary>
internal sealed class Hpack
{
    private static readonly (string Name, string Value)[] StaticTable =
    [
        (":authority", ""), (":method", "GET"), (":method", "POST"), (":path", "/"), (":path", "/index.html"),
        (":scheme", "http"), (":scheme", "https"), (":status", "200"), (":status", "204"), (":status", "206"),
        (":status", "304"), (":status", "400"), (":status", "404"), (":status", "500"), ("accept-charset", ""),
        ("accept-encoding", "gzip, deflate"), ("accept-language", ""), ("accept-ranges", ""), ("accept", ""),
        ("access-control-allow-origin", ""), ("age", ""), ("allow", ""), ("authorization", ""), ("cache-control", ""),
        ("content-disposition", ""), ("content-encoding", ""), ("content-language", ""), ("content-length", ""),
        ("content-location", ""), ("content-range", ""), ("content-type", ""), ("cookie", ""), ("date", ""),
        ("etag", ""), ("expect", ""), ("expires", ""), ("from", ""), ("host", ""), ("if-match", ""),
        ("if-modified-since", ""), ("if-none-match", ""), ("if-range", ""), ("if-unmodified-since", ""),
        ("last-modified", ""), ("link", ""), ("location", ""), ("max-forwards", ""), ("proxy-authenticate", ""),
        ("proxy-authorization", ""), ("range", ""), ("referer", ""), ("refresh", ""), ("retry-after", ""),
        ("server", ""), ("set-cookie", ""), ("strict-transport-security", ""), ("transfer-encoding", ""),
        ("user-agent", ""), ("vary", ""), ("via", ""), ("www-authenticate", ""),
    ];

    /// <summary>Newest first, as HPACK indexes it.</summary>
    private readonly List<(string Name, string Value)> _dynamic = [];
    private int _dynamicSize;
    private int _maxDynamicSize = 4096;

    /// <summary>A header block of literal fields without indexing, each name and value as given (names must be lower case).</summary>
    public static byte[] Encode(IEnumerable<KeyValuePair<string, string>> headers)
    {
        ArgumentNullException.ThrowIfNull(headers);
        using var block = new MemoryStream();
        foreach (var (name, value) in headers)
        {
            block.WriteByte(0x00);
            WriteString(block, name);
            WriteString(block, value);
        }

        return block.ToArray();
    }

    /// <summary>Decodes one complete header block, updating this connection's dynamic table.</summary>
    public List<KeyValuePair<string, string>> Decode(ReadOnlySpan<byte> block)
    {
        var fields = new List<KeyValuePair<string, string>>();
        var at = 0;
        while (at < block.Length)
        {
            var first = block[at];
            if ((first & 0x80) != 0)
            {
                var (name, value) = Lookup(ReadInteger(block, ref at, 7));
                fields.Add(new(name, value));
            }
            else if ((first & 0xc0) == 0x40)
            {
                var field = ReadLiteral(block, ref at, 6);
                fields.Add(new(field.Name, field.Value));
                Add(field);
            }
            else if ((first & 0xe0) == 0x20)
            {
                _maxDynamicSize = ReadInteger(block, ref at, 5);
                Evict();
            }
            else
            {
                // Literal without indexing (0000xxxx) or never indexed (0001xxxx).
                var field = ReadLiteral(block, ref at, 4);
                fields.Add(new(field.Name, field.Value));
            }
        }

        return fields;
    }

    private (string Name, string Value) ReadLiteral(ReadOnlySpan<byte> block, ref int at, int prefixBits)
    {
        var index = ReadInteger(block, ref at, prefixBits);
        var name = index == 0 ? ReadString(block, ref at) : Lookup(index).Name;
        return (name, ReadString(block, ref at));
    }

    private (string Name, string Value) Lookup(int index) =>
        index >= 1 && index <= StaticTable.Length ? StaticTable[index - 1]
        : index > StaticTable.Length && index - StaticTable.Length - 1 < _dynamic.Count ? _dynamic[index - StaticTable.Length - 1]
        : throw new InvalidDataException($"HPACK index {index} is outside both tables.");

    private void Add((string Name, string Value) field)
    {
        _dynamic.Insert(0, field);
        _dynamicSize += Size(field);
        Evict();
    }

    private void Evict()
    {
        while (_dynamicSize > _maxDynamicSize && _dynamic.Count > 0)
        {
            _dynamicSize -= Size(_dynamic[^1]);
            _dynamic.RemoveAt(_dynamic.Count - 1);
        }
    }

    private static int Size((string Name, string Value) field) => Encoding.UTF8.GetByteCount(field.Name) + Encoding.UTF8.GetByteCount(field.Value) + 32;

    private static string ReadString(ReadOnlySpan<byte> block, ref int at)
    {
        if ((block[at] & 0x80) != 0)
        {
            throw new NotSupportedException("The server sent a Huffman-coded header string; this test client does not decode those.");
        }

        var length = ReadInteger(block, ref at, 7);
        var text = Encoding.UTF8.GetString(block.Slice(at, length));
        at += length;
        return text;
    }

    private static int ReadInteger(ReadOnlySpan<byte> block, ref int at, int prefixBits)
    {
        var max = (1 << prefixBits) - 1;
        var value = block[at++] & max;
        if (value < max)
        {
            return value;
        }

        for (var shift = 0; ; shift += 7)
        {
            var next = block[at++];
            value += (next & 0x7f) << shift;
            if ((next & 0x80) == 0)
            {
                return value;
            }
        }
    }

    private static void WriteString(MemoryStream block, string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        WriteInteger(block, bytes.Length, 7);
        block.Write(bytes);
    }

    private static void WriteInteger(MemoryStream block, int value, int prefixBits)
    {
        var max = (1 << prefixBits) - 1;
        if (value < max)
        {
            block.WriteByte((byte)value);
            return;
        }

        block.WriteByte((byte)max);
        value -= max;
        while (value >= 0x80)
        {
            block.WriteByte((byte)((value & 0x7f) | 0x80));
            value >>= 7;
        }

        block.WriteByte((byte)value);
    }
}
