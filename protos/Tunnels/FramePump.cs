using Google.Protobuf;
using GitHubActionsPort.Protocol.V1;
using Grpc.Core;

namespace GitHubActionsPort.Protocol.Tunnels;

/// <summary>
/// The two copy loops of a tunnel, one per direction. Each returns how it ended instead of throwing, so the
/// splice can decide which side to blame and what to tell the other.
/// </summary>
internal static class FramePump
{
    private static readonly TunnelFrame EndOfStreamFrame = new() { End = new EndOfStream() };

    /// <summary>Socket to frames: every received byte in order, then one end-of-stream frame at the peer's FIN.</summary>
    public static Task<CopyOutcome> SocketToFramesAsync(
        TunnelSocket socket,
        IAsyncStreamWriter<TunnelFrame> output,
        Func<Task>? completeOutput,
        CancellationToken cancellationToken)
    {
        async ValueTask ForwardAsync(ReadOnlyMemory<byte> segment, CancellationToken cancel)
        {
            for (var offset = 0; offset < segment.Length; offset += WireLimits.MaxChunkSize)
            {
                var chunk = segment.Slice(offset, Math.Min(WireLimits.MaxChunkSize, segment.Length - offset));
                // The pipe's buffer is wrapped, not copied: it is released after this returns, by which time the
                // write has completed and gRPC has serialized the frame.
                await output.WriteAsync(new TunnelFrame { Data = UnsafeByteOperations.UnsafeWrap(chunk) }, cancel).ConfigureAwait(false);
            }
        }

        async ValueTask FinishAsync()
        {
            await output.WriteAsync(EndOfStreamFrame, cancellationToken).ConfigureAwait(false);
            if (completeOutput is not null)
            {
                await completeOutput().ConfigureAwait(false);
            }
        }

        return PipeDrain.DrainAsync(socket, ForwardAsync, FinishAsync, TunnelMetrics.BytesFromSocket, cancellationToken);
    }

    /// <summary>
    /// Frames to socket: data frames are written in order; the end-of-stream frame half-closes the socket. After it
    /// the stream itself must end: cleanly (the peer completed its side, or the broker's OK status) for a clean
    /// end, or with an error, which still counts as a failure so a late reset is passed on rather than lost.
    /// </summary>
    public static async Task<CopyOutcome> FramesToSocketAsync(
        IAsyncStreamReader<TunnelFrame> input,
        TunnelSocket socket,
        CancellationToken cancellationToken)
    {
        long bytes = 0;
        var ended = false;
        var metered = new MeteredBytes(TunnelMetrics.BytesToSocket);
        try
        {
            while (true)
            {
                TunnelFrame frame;
                try
                {
                    if (!await input.MoveNext(cancellationToken).ConfigureAwait(false))
                    {
                        return ended
                            ? new CopyOutcome(CopyResult.Completed, bytes, null)
                            : new CopyOutcome(CopyResult.InputError, bytes, new InvalidDataException("The stream ended without an end-of-stream frame."));
                    }

                    frame = input.Current;
                }
                catch (Exception ex) when (cancellationToken.IsCancellationRequested)
                {
                    return new CopyOutcome(CopyResult.Canceled, bytes, ex);
                }
                catch (Exception ex)
                {
                    return new CopyOutcome(CopyResult.InputError, bytes, ex);
                }

                switch (frame.KindCase)
                {
                    case TunnelFrame.KindOneofCase.Data when !frame.Data.IsEmpty && !ended:
                        try
                        {
                            await socket.SendAsync(frame.Data.Memory, cancellationToken).ConfigureAwait(false);
                            bytes += frame.Data.Length;
                            metered.Add(frame.Data.Length);
                        }
                        catch (Exception ex) when (cancellationToken.IsCancellationRequested)
                        {
                            return new CopyOutcome(CopyResult.Canceled, bytes, ex);
                        }
                        catch (Exception ex)
                        {
                            return new CopyOutcome(CopyResult.OutputError, bytes, ex);
                        }

                        break;

                    case TunnelFrame.KindOneofCase.End when !ended:
                        try
                        {
                            await socket.ShutdownSendAsync().ConfigureAwait(false);
                        }
                        catch (Exception ex)
                        {
                            return new CopyOutcome(CopyResult.OutputError, bytes, ex);
                        }

                        ended = true;
                        break;

                    default:
                        return new CopyOutcome(CopyResult.InputError, bytes, new InvalidDataException(
                            ended ? $"A '{frame.KindCase}' frame came after the end-of-stream frame." : $"Unexpected tunnel frame '{frame.KindCase}'."));
                }
            }
        }
        finally
        {
            metered.Flush();
        }
    }
}
