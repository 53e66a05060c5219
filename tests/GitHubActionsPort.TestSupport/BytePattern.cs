using System.Net.Sockets;

namespace GitHubActionsPort.TestSupport;

/// <summary>
/// An endless, incompressible byte stream that costs one block of memory to send and to check, however long the
/// transfer: byte <c>i</c> is <c>Block[i % Block.Length]</c>. The block's odd length keeps it out of step with every
/// buffer and frame size on the way, so a lost, repeated or reordered chunk shows as a mismatch.
/// </summary>
public sealed class BytePattern
{
    private readonly byte[] _block;

    public BytePattern(int blockLength = (1024 * 1024) + 7)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(blockLength, 1);
        _block = SocketIo.RandomBytes(blockLength);
    }

    /// <summary>Up to <paramref name="maxLength"/> bytes of the stream from <paramref name="offset"/> (fewer at the block's end).</summary>
    public ReadOnlyMemory<byte> Chunk(long offset, int maxLength)
    {
        var start = (int)(offset % _block.Length);
        return _block.AsMemory(start, Math.Min(maxLength, _block.Length - start));
    }

    /// <summary>Whether <paramref name="data"/> is the stream's bytes from <paramref name="offset"/> on.</summary>
    public bool Matches(long offset, ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            var expected = Chunk(offset, data.Length).Span;
            if (!data[..expected.Length].SequenceEqual(expected))
            {
                return false;
            }

            data = data[expected.Length..];
            offset += expected.Length;
        }

        return true;
    }

    /// <summary>Sends <paramref name="count"/> bytes of the stream from <paramref name="offset"/>.</summary>
    public async Task SendAsync(Socket socket, long offset, long count, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(socket);
        var end = offset + count;
        while (offset < end)
        {
            var chunk = Chunk(offset, (int)Math.Min(64 * 1024, end - offset));
            var sent = await socket.SendAsync(chunk, cancellationToken).ConfigureAwait(false);
            offset += sent;
        }
    }

    /// <summary>
    /// Reads exactly <paramref name="count"/> bytes and checks them against the stream from <paramref name="offset"/>;
    /// throws <see cref="InvalidDataException"/> naming the first bad offset, <see cref="EndOfStreamException"/> at an
    /// early end, <see cref="SocketException"/> at a reset.
    /// </summary>
    public async Task ReadAsync(Socket socket, long offset, long count, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(socket);
        var buffer = new byte[64 * 1024];
        var end = offset + count;
        while (offset < end)
        {
            var read = await socket.ReceiveAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, end - offset)), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                throw new EndOfStreamException($"The connection ended at byte {offset} of {end}.");
            }

            if (!Matches(offset, buffer.AsSpan(0, read)))
            {
                throw new InvalidDataException($"The bytes received from offset {offset} are not the ones sent.");
            }

            offset += read;
        }
    }

    /// <summary>
    /// Reads until FIN or reset, checking every byte against the stream from <paramref name="offset"/>: how many
    /// arrived, whether the end was a reset, and where the first wrong byte was (null when all were right).
    /// </summary>
    public async Task<PatternReadResult> ReadUntilClosedAsync(Socket socket, long offset = 0, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(socket);
        var buffer = new byte[64 * 1024];
        var start = offset;
        long? mismatchAt = null;
        try
        {
            while (true)
            {
                var read = await socket.ReceiveAsync(buffer, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    return new PatternReadResult(offset - start, WasReset: false, mismatchAt);
                }

                if (mismatchAt is null && !Matches(offset, buffer.AsSpan(0, read)))
                {
                    mismatchAt = offset;
                }

                offset += read;
            }
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
        {
            return new PatternReadResult(offset - start, WasReset: true, mismatchAt);
        }
    }
}
