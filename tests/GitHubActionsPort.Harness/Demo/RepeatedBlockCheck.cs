namespace GitHubActionsPort.Harness.Demo;

/// <summary>
/// Checks that a received stream is one block repeated end to end, as it was sent. A plain memory comparison per
/// chunk costs next to nothing, so every byte of a throughput run is verified without slowing it down the way a
/// hash would.
/// </summary>
internal sealed class RepeatedBlockCheck(ReadOnlyMemory<byte> block)
{
    private long _offset;

    /// <summary>Stream offset of the first wrong byte's chunk, or null while everything matched.</summary>
    public long? FirstMismatchAt { get; private set; }

    public void Check(ReadOnlyMemory<byte> received)
    {
        var chunk = received.Span;
        while (!chunk.IsEmpty)
        {
            var inBlock = (int)(_offset % block.Length);
            var length = Math.Min(chunk.Length, block.Length - inBlock);
            if (FirstMismatchAt is null && !chunk[..length].SequenceEqual(block.Span.Slice(inBlock, length)))
            {
                FirstMismatchAt = _offset;
            }

            _offset += length;
            chunk = chunk[length..];
        }
    }
}
