using System.Net.Sockets;

namespace GitHubActionsPort.Protocol.Tunnels;

/// <summary>
/// One direction of a socket-to-socket tunnel (the raw lane): bytes in order, no framing, and the source's end of
/// stream passed on as a half-close. Returns how it ended instead of throwing, like <see cref="FramePump"/>.
/// </summary>
internal static class SocketPump
{
    /// <summary>As much as one receive takes; a full one says more is waiting.</summary>
    private const int ChunkSize = WireLimits.MaxChunkSize;

    public static Task<CopyOutcome> CopyAsync(TunnelSocket from, TunnelSocket to, Action<long> meter, CancellationToken cancellationToken) =>
        from.IsPlain ? CopyPlainAsync(from, to, meter, cancellationToken) : CopyThroughPipeAsync(from, to, meter, cancellationToken);

    /// <summary>
    /// From a plain socket, without the pipe: what the pipe already holds (bytes that came with the raw lane's last
    /// message) goes first, then each receive is sent on as it is. While data streams in, a full receive is followed
    /// at once by the next; only when the socket has run dry does the loop wait for data with a zero-byte receive and
    /// give its buffer back, so an idle tunnel holds none. Against the pipe's loop, which waits that way before every
    /// read, this saves a system call per chunk on a busy tunnel.
    /// </summary>
    private static async Task<CopyOutcome> CopyPlainAsync(TunnelSocket from, TunnelSocket to, Action<long> meter, CancellationToken cancellationToken)
    {
        long bytes = 0;
        var metered = new MeteredBytes(meter);
        byte[]? buffer = null;
        try
        {
            if (from.Input.TryRead(out var held))
            {
                try
                {
                    foreach (var segment in held.Buffer)
                    {
                        await to.SendAsync(segment, cancellationToken).ConfigureAwait(false);
                        bytes += segment.Length;
                        metered.Add(segment.Length);
                    }
                }
                catch (Exception ex)
                {
                    return new CopyOutcome(cancellationToken.IsCancellationRequested ? CopyResult.Canceled : CopyResult.OutputError, bytes, ex);
                }
                finally
                {
                    from.Input.AdvanceTo(held.Buffer.End);
                }
            }

            var streaming = false;
            while (true)
            {
                int received;
                try
                {
                    if (!streaming)
                    {
                        ReturnBuffer(ref buffer);
                        await from.ReceiveAsync(Memory<byte>.Empty, cancellationToken).ConfigureAwait(false);
                        buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(ChunkSize);
                    }

                    received = await from.ReceiveAsync(buffer.AsMemory(0, ChunkSize), cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (cancellationToken.IsCancellationRequested)
                {
                    return new CopyOutcome(CopyResult.Canceled, bytes, ex);
                }
                catch (Exception ex)
                {
                    return new CopyOutcome(CopyResult.InputError, bytes, ex);
                }

                try
                {
                    if (received == 0 && from.EndWasReset())
                    {
                        return new CopyOutcome(CopyResult.InputError, bytes, new SocketException((int)SocketError.ConnectionReset));
                    }

                    if (received == 0)
                    {
                        await to.ShutdownSendAsync().ConfigureAwait(false);
                        return new CopyOutcome(CopyResult.Completed, bytes, null);
                    }

                    await to.SendAsync(buffer!.AsMemory(0, received), cancellationToken).ConfigureAwait(false);
                    bytes += received;
                    metered.Add(received);
                    streaming = received == ChunkSize;
                }
                catch (Exception ex) when (cancellationToken.IsCancellationRequested)
                {
                    return new CopyOutcome(CopyResult.Canceled, bytes, ex);
                }
                catch (Exception ex)
                {
                    return new CopyOutcome(CopyResult.OutputError, bytes, ex);
                }
            }
        }
        finally
        {
            ReturnBuffer(ref buffer);
            metered.Flush();
        }
    }

    private static void ReturnBuffer(ref byte[]? buffer)
    {
        if (buffer is not null)
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
            buffer = null;
        }
    }

    /// <summary>From a TLS stream, through the pipe its reader decrypts ahead into.</summary>
    private static Task<CopyOutcome> CopyThroughPipeAsync(TunnelSocket from, TunnelSocket to, Action<long> meter, CancellationToken cancellationToken) =>
        PipeDrain.DrainAsync(from, to.SendAsync, to.ShutdownSendAsync, meter, cancellationToken);
}
