using System.Net;
using System.Net.Sockets;

namespace GitHubActionsPort.Tests.Faults;

/// <summary>
/// Connections that say nothing, as a flood holds them: each from a chosen loopback address (every 127.0.0.0/8
/// address is this machine's), so a test can be several sources at once. Disposing closes whatever is still open.
/// </summary>
internal sealed class SilentSockets : IDisposable
{
    private readonly List<Socket> _sockets = [];

    public IReadOnlyList<Socket> Sockets => _sockets;

    /// <summary>The loopback address number <paramref name="n"/> (127.0.0.<paramref name="n"/>), as a flood's source.</summary>
    public static IPAddress Source(int n) => new([127, 0, 0, (byte)n]);

    /// <summary>
    /// Opens <paramref name="count"/> connections from <paramref name="source"/> to <paramref name="server"/>, sending
    /// nothing (or only <paramref name="opening"/>, such as the start of a TLS ClientHello); those the server refused
    /// on arrival are left out of the list.
    /// </summary>
    public async Task<List<Socket>> OpenAsync(Uri server, IPAddress source, int count, byte[]? opening = null)
    {
        ArgumentNullException.ThrowIfNull(server);
        var target = new IPEndPoint(IPAddress.Parse(server.Host), server.Port);
        var opened = new List<Socket>(count);
        for (var i = 0; i < count; i++)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            _sockets.Add(socket);
            socket.Bind(new IPEndPoint(source, 0));
            try
            {
                await socket.ConnectAsync(target).DefaultTimeout();
                if (opening is not null)
                {
                    await socket.SendAllAsync(opening).DefaultTimeout();
                }

                opened.Add(socket);
            }
            catch (SocketException)
            {
                // Refused or reset on arrival: a flood does not mind.
            }
        }

        return opened;
    }

    public void Dispose()
    {
        foreach (var socket in _sockets)
        {
            socket.Dispose();
        }
    }
}
