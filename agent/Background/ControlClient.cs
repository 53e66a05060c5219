using System.Net.Sockets;
using System.Text;

namespace GitHubActionsPort.Agent.Background;

/// <summary>Asks a background agent for its status or to stop, through its control socket.</summary>
internal static class ControlClient
{
    private const int MaxReplyLength = 1024 * 1024;

    /// <summary>The agent's reply, or null when no agent answers at <paramref name="socketPath"/>.</summary>
    public static async Task<string?> AskAsync(string socketPath, string request, TimeSpan timeout)
    {
        if (!File.Exists(socketPath))
        {
            return null;
        }

        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), deadline.Token).ConfigureAwait(false);
            await socket.SendAsync(Encoding.ASCII.GetBytes(request + "\n"), deadline.Token).ConfigureAwait(false);
            using var reply = new MemoryStream();
            var buffer = new byte[16 * 1024];
            while (reply.Length < MaxReplyLength)
            {
                var read = await socket.ReceiveAsync(buffer, deadline.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                reply.Write(buffer, 0, read);
            }

            return Encoding.UTF8.GetString(reply.ToArray()).Trim();
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionRefused or SocketError.AddressNotAvailable or SocketError.NotSocket)
        {
            // A socket file with nobody behind it: an agent that was killed.
            return null;
        }
    }
}
