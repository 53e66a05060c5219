using System.Buffers;

namespace GitHubActionsPort.Tests.RawLane;

/// <summary>
/// Multi-segment <see cref="ReadOnlySequence{T}"/> built by hand, the shape a pipe hands over when bytes arrived in
/// pieces: a parser must read a header or a length field that straddles segments, and empty segments, alike.
/// </summary>
internal static class SegmentedSequence
{
    /// <summary><paramref name="bytes"/> cut at each of <paramref name="cuts"/> (ascending offsets; repeats make empty segments).</summary>
    public static ReadOnlySequence<byte> Split(ReadOnlyMemory<byte> bytes, IEnumerable<int> cuts)
    {
        Segment? first = null;
        Segment? last = null;
        var start = 0;
        foreach (var cut in cuts.Append(bytes.Length))
        {
            // A copy per segment, so no segment shares an array with the bytes after it.
            var segment = new Segment(bytes[start..cut].ToArray(), last);
            first ??= segment;
            last = segment;
            start = cut;
        }

        return new ReadOnlySequence<byte>(first!, 0, last!, last!.Memory.Length);
    }

    /// <summary>One segment per byte.</summary>
    public static ReadOnlySequence<byte> ByteByByte(ReadOnlyMemory<byte> bytes) => Split(bytes, Enumerable.Range(1, Math.Max(0, bytes.Length - 1)));

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, Segment? previous)
        {
            Memory = memory;
            if (previous is not null)
            {
                RunningIndex = previous.RunningIndex + previous.Memory.Length;
                previous.Next = this;
            }
        }
    }
}
