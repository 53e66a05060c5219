using System.IO.Pipelines;
using System.Net.Sockets;

namespace GitHubActionsPort.Protocol.Tunnels;

/// <summary>
/// The read side both pumps share: every byte a socket's pipe receives, in order, handed on a segment at a time, then
/// its end of stream. The pipe's buffer is released only after a segment is handed on, so the destination's pace is
/// the source's and memory stays at one read's worth. Returns how it ended instead of throwing.
/// </summary>
internal static class PipeDrain
{
    /// <param name="from">The socket whose pipe is read (completed when this returns).</param>
    /// <param name="forward">Hands one segment to the far side (its writes must be done when the task is).</param>
    /// <param name="finish">Passes the end of stream on (a half-close, an end frame).</param>
    /// <param name="meter">Where bytes handed on are counted.</param>
    /// <param name="cancellationToken">Ends the copy early.</param>
    public static async Task<CopyOutcome> DrainAsync(
        TunnelSocket from,
        Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask> forward,
        Func<ValueTask> finish,
        Action<long> meter,
        CancellationToken cancellationToken)
    {
        var input = from.Input;
        long bytes = 0;
        var metered = new MeteredBytes(meter);
        Exception? error = null;
        try
        {
            while (true)
            {
                ReadResult result;
                try
                {
                    result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (cancellationToken.IsCancellationRequested)
                {
                    return new CopyOutcome(CopyResult.Canceled, bytes, ex);
                }
                catch (Exception ex)
                {
                    error = ex;
                    return new CopyOutcome(CopyResult.InputError, bytes, ex);
                }

                if (result.IsCanceled)
                {
                    return new CopyOutcome(CopyResult.Canceled, bytes, null);
                }

                var buffer = result.Buffer;
                try
                {
                    foreach (var segment in buffer)
                    {
                        await forward(segment, cancellationToken).ConfigureAwait(false);
                        bytes += segment.Length;
                        metered.Add(segment.Length);
                    }

                    if (result.IsCompleted && from.EndWasReset())
                    {
                        error = new SocketException((int)SocketError.ConnectionReset);
                        return new CopyOutcome(CopyResult.InputError, bytes, error);
                    }

                    if (result.IsCompleted)
                    {
                        await finish().ConfigureAwait(false);
                        return new CopyOutcome(CopyResult.Completed, bytes, null);
                    }
                }
                catch (Exception ex) when (cancellationToken.IsCancellationRequested)
                {
                    return new CopyOutcome(CopyResult.Canceled, bytes, ex);
                }
                catch (Exception ex)
                {
                    error = ex;
                    return new CopyOutcome(CopyResult.OutputError, bytes, ex);
                }
                finally
                {
                    input.AdvanceTo(buffer.End);
                }
            }
        }
        finally
        {
            metered.Flush();
            await input.CompleteAsync(error).ConfigureAwait(false);
        }
    }
}
