using System.Net.Sockets;

namespace GitHubActionsPort.TestSupport;

/// <summary>One connection of a <see cref="Firehose"/>: bytes sent so far, its first stall, and its end.</summary>
public sealed class FirehoseConnection
{
    private readonly TaskCompletionSource<long> _stalled = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<FirehoseEnd> _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _sent;

    public long BytesSent => Interlocked.Read(ref _sent);

    /// <summary>
    /// Completes, with the bytes sent by then, the first time one send stays blocked for the firehose's stall time:
    /// the kernel's buffers toward the reader are full and nobody drains them. Not a readiness wait on a clock: the
    /// send itself is the signal; the clock only says how long "not draining" must last.
    /// </summary>
    public Task<long> Stalled => _stalled.Task;

    /// <summary>Completes when the connection is over: everything sent (and the far side done), or cut.</summary>
    public Task<FirehoseEnd> Ended => _ended.Task;

    internal async Task RunAsync(Socket socket, BytePattern pattern, long count, TimeSpan stallAfter, CancellationToken cancellationToken)
    {
        var wasReset = false;
        try
        {
            while (BytesSent < count)
            {
                var chunk = pattern.Chunk(BytesSent, (int)Math.Min(64 * 1024, count - BytesSent));
                var send = socket.SendAsync(chunk, cancellationToken).AsTask();
                if (!send.IsCompleted && !_stalled.Task.IsCompleted)
                {
                    await WatchForStallAsync(send, stallAfter, cancellationToken).ConfigureAwait(false);
                }

                Interlocked.Add(ref _sent, await send.ConfigureAwait(false));
            }

            socket.Shutdown(SocketShutdown.Send);
            // Stay until the far side is done, so our close cannot cut bytes still on their way.
            var buffer = new byte[1024];
            while (await socket.ReceiveAsync(buffer, cancellationToken).ConfigureAwait(false) > 0)
            {
            }
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted or SocketError.Shutdown)
        {
            wasReset = true;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The firehose is being disposed.
        }
        finally
        {
            _stalled.TrySetException(new InvalidOperationException($"The connection ended ({BytesSent} bytes sent, reset: {wasReset}) without ever stalling."));
            _ended.TrySetResult(new FirehoseEnd(BytesSent, wasReset));
        }
    }

    private async Task WatchForStallAsync(Task send, TimeSpan stallAfter, CancellationToken cancellationToken)
    {
        using var quiet = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var timer = Task.Delay(stallAfter, quiet.Token);
        if (await Task.WhenAny(send, timer).ConfigureAwait(false) == timer && !timer.IsCanceled)
        {
            _stalled.TrySetResult(BytesSent);
        }

        await quiet.CancelAsync().ConfigureAwait(false);
    }
}
