using GitHubActionsPort.Protocol.V1;
using Grpc.Core;

namespace GitHubActionsPort.Protocol.Tunnels;

/// <summary>
/// Joins a TCP socket to the far end of a tunnel, a bidirectional gRPC stream or a raw-lane connection, until both
/// directions have ended. Used by both ends: the agent with its local client's socket, the broker with the target's.
/// </summary>
public static class TunnelSplice
{
    /// <summary>
    /// Copies both directions. When one direction fails, the other is cancelled and still awaited, so nothing
    /// touches the socket or the stream after this returns. A direction that ends cleanly (a half-close) leaves
    /// the other running until it ends too.
    /// </summary>
    /// <param name="socket">The TCP end.</param>
    /// <param name="incoming">Frames from the far end.</param>
    /// <param name="outgoing">Frames to the far end.</param>
    /// <param name="completeOutgoing">Called after the end-of-stream frame is sent (a client completes its request stream).</param>
    /// <param name="cancellationToken">Ends the tunnel early.</param>
    public static async Task<SpliceResult> RunAsync(
        TunnelSocket socket,
        IAsyncStreamReader<TunnelFrame> incoming,
        IAsyncStreamWriter<TunnelFrame> outgoing,
        Func<Task>? completeOutgoing,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(socket);
        ArgumentNullException.ThrowIfNull(incoming);
        ArgumentNullException.ThrowIfNull(outgoing);

        using var stopBoth = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        return await JoinAsync(
            FramePump.SocketToFramesAsync(socket, outgoing, completeOutgoing, stopBoth.Token),
            FramePump.FramesToSocketAsync(incoming, socket, stopBoth.Token),
            stopBoth,
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Copies both directions between two sockets (the raw lane: no framing; end of stream is a half-close, a
    /// reset a reset), with the same rules as the stream splice. <see cref="SpliceResult.BytesFromSocket"/> counts
    /// bytes from <paramref name="socket"/> to <paramref name="far"/>; a failure of <paramref name="far"/> is
    /// <see cref="TunnelEnd.StreamFailed"/>.
    /// </summary>
    public static async Task<SpliceResult> RunAsync(TunnelSocket socket, TunnelSocket far, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(socket);
        ArgumentNullException.ThrowIfNull(far);

        using var stopBoth = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        return await JoinAsync(
            SocketPump.CopyAsync(socket, far, TunnelMetrics.BytesFromSocket, stopBoth.Token),
            SocketPump.CopyAsync(far, socket, TunnelMetrics.BytesToSocket, stopBoth.Token),
            stopBoth,
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Waits for both directions. When one fails, the other is cancelled and still awaited, so nothing touches
    /// either end after this returns.
    /// </summary>
    private static async Task<SpliceResult> JoinAsync(Task<CopyOutcome> upload, Task<CopyOutcome> download, CancellationTokenSource stopBoth, CancellationToken cancellationToken)
    {
        TunnelMetrics.Started();
        var first = await Task.WhenAny(upload, download).ConfigureAwait(false);
        var firstOutcome = await first.ConfigureAwait(false);
        if (firstOutcome.Result != CopyResult.Completed)
        {
            await stopBoth.CancelAsync().ConfigureAwait(false);
        }

        var up = await upload.ConfigureAwait(false);
        var down = await download.ConfigureAwait(false);

        var (end, error) = Blame(first == upload, up, down, cancellationToken.IsCancellationRequested);
        TunnelMetrics.Finished(end);
        return new SpliceResult(end, error, up.Bytes, down.Bytes);
    }

    private static (TunnelEnd End, Exception? Error) Blame(bool uploadFinishedFirst, CopyOutcome up, CopyOutcome down, bool callerCanceled)
    {
        if (up.Result == CopyResult.Completed && down.Result == CopyResult.Completed)
        {
            return (TunnelEnd.Completed, null);
        }

        // The direction that failed first is the cause; the other was cancelled because of it.
        var (cause, isUpload) = uploadFinishedFirst && up.Result != CopyResult.Completed ? (up, true)
            : !uploadFinishedFirst && down.Result != CopyResult.Completed ? (down, false)
            : up.Result != CopyResult.Completed ? (up, true)
            : (down, false);

        if (cause.Result == CopyResult.Canceled || callerCanceled)
        {
            return (TunnelEnd.Canceled, cause.Error);
        }

        // Upload reads the socket and writes the stream; download reads the stream and writes the socket.
        var socketFailed = isUpload == (cause.Result == CopyResult.InputError);
        return (socketFailed ? TunnelEnd.SocketFailed : TunnelEnd.StreamFailed, cause.Error);
    }
}
