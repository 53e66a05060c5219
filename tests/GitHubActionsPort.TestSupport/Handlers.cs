using System.Net.Sockets;

namespace GitHubActionsPort.TestSupport;

/// <summary>Target behaviours for <see cref="TcpTestServer"/>.</summary>
public static class Handlers
{
    public static async Task EchoAsync(Socket socket, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(socket);
        var buffer = new byte[64 * 1024];
        while (true)
        {
            var read = await socket.ReceiveAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                socket.Shutdown(SocketShutdown.Send);
                return;
            }

            await socket.SendAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
        }
    }
}
