using System.Net.Sockets;

namespace GitHubActionsPort.Protocol.Tunnels;

/// <summary>
/// Accepts on a listening socket until cancelled or closed, handing each connection on without waiting for it. A
/// client that gave up between SYN and accept is skipped; an accept that fails for want of resources (descriptors,
/// memory) is reported and retried after a pause, as Kestrel does, rather than silently ending the listener.
/// </summary>
public static class AcceptLoop
{
    /// <summary>How long a failed accept waits before the next.</summary>
    public static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);

    public static async Task RunAsync(Socket listener, Action<Socket> handle, Action<SocketException> acceptFailed, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(listener);
        ArgumentNullException.ThrowIfNull(handle);
        ArgumentNullException.ThrowIfNull(acceptFailed);
        while (!cancellationToken.IsCancellationRequested)
        {
            Socket accepted;
            try
            {
                accepted = await listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
            {
                continue;
            }
            catch (SocketException ex)
            {
                acceptFailed(ex);
                try
                {
                    await Task.Delay(RetryDelay, time, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                continue;
            }

            handle(accepted);
        }
    }
}
