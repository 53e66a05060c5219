using System.Net.Sockets;
using GitHubActionsPort.Broker.Configuration;

namespace GitHubActionsPort.Broker.Tunnels;

/// <summary>Connects to a configured target address within the connect timeout.</summary>
internal sealed class TargetDialer(BrokerSettings settings)
{
    public async Task<Socket> ConnectAsync(TargetAddress address, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(address);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(settings.Transport.ConnectTimeout);

        // Dual-mode where the OS has IPv6, so a name resolving to either family connects.
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(address.Host, address.Port, timeout.Token).ConfigureAwait(false);
            return socket;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            throw new TargetUnreachableException($"did not accept a connection within {settings.Transport.ConnectTimeout.TotalSeconds:0.#} s");
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new TargetUnreachableException(Describe(ex), ex);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static string Describe(SocketException ex) => ex.SocketErrorCode switch
    {
        SocketError.ConnectionRefused => "refused the connection (nothing listens on its port)",
        SocketError.HostNotFound or SocketError.NoData or SocketError.TryAgain => "has a host name that does not resolve",
        SocketError.HostUnreachable or SocketError.NetworkUnreachable => "is unreachable from the broker",
        SocketError.TimedOut => "did not answer",
        _ => $"could not be connected ({ex.SocketErrorCode})",
    };
}
