using System.IO.Pipelines;

namespace GitHubActionsPort.Protocol.Tunnels;

/// <summary>
/// One direction of a socket-to-socket tunnel (the raw lane): bytes in order, no framing, and the source's end of
/// stream passed on as a half-close. Returns how it ended instead of throwing, like <see cref="FramePump"/>.
/// </summary>
internal static class SocketPump
{
    public static async Task<CopyOutcome> CopyAsync(TunnelSocket from, TunnelSocket to, Action<long> meter, CancellationToken cancellationToken)
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
                    // Each segment is sent straight from the pipe's buffer, which is released only after the send:
                    // the destination's pace is the source's, so memory stays at one read's worth.
                    foreach (var segment in buffer)
                    {
                        await to.SendAsync(segment, cancellationToken).ConfigureAwait(false);
                        bytes += segment.Length;
                        metered.Add(segment.Length);
                    }

                    if (result.IsCompleted)
                    {
                        await to.ShutdownSendAsync().ConfigureAwait(false);
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
