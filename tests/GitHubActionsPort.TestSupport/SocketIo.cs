using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace GitHubActionsPort.TestSupport;

/// <summary>Client-side socket chores for tests.</summary>
public static class SocketIo
{
    public static async Task<Socket> ConnectAsync(IPEndPoint endPoint)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endPoint).DefaultTimeout().ConfigureAwait(false);
        return socket;
    }

    /// <summary>
    /// Connects to <paramref name="endPoint"/> and reads until the other side closes the connection: what it sent
    /// first. A side that refuses at once may reset so soon that the reset overtakes the connect's own completion;
    /// that counts as closed with nothing sent.
    /// </summary>
    public static async Task<byte[]> ReceivedBeforeCloseAsync(IPEndPoint endPoint)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        using var client = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await client.ConnectAsync(endPoint).DefaultTimeout().ConfigureAwait(false);
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionRefused)
        {
            return [];
        }

        var (data, _) = await client.ReadUntilClosedAsync().ConfigureAwait(false);
        return data;
    }

    /// <summary>Both ends of one loopback TCP connection: the client that connected and the socket the listener accepted.</summary>
    public static async Task<(Socket Client, Socket Accepted)> ConnectedPairAsync()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var client = await ConnectAsync((IPEndPoint)listener.LocalEndPoint!).ConfigureAwait(false);
        return (client, await listener.AcceptAsync().DefaultTimeout().ConfigureAwait(false));
    }

    /// <summary>
    /// A loopback port the OS just handed out and took back: nothing listens there (a connection is refused at once),
    /// and for a program that cannot listen on port 0 and report back, it is the closest to a free one.
    /// </summary>
    public static int ReleasedLoopbackPort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }

    public static async Task SendAllAsync(this Socket socket, ReadOnlyMemory<byte> data)
    {
        ArgumentNullException.ThrowIfNull(socket);
        await socket.SendAsync(data).AsTask().DefaultTimeout().ConfigureAwait(false);
    }

    /// <summary>Reads until the peer's FIN. A reset throws <see cref="SocketException"/>.</summary>
    public static async Task<byte[]> ReadToEndAsync(this Socket socket, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(socket);
        using var received = new MemoryStream();
        var buffer = new byte[64 * 1024];
        while (true)
        {
            var read = await socket.ReceiveAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return received.ToArray();
            }

            received.Write(buffer, 0, read);
        }
    }

    /// <summary>Reads exactly <paramref name="count"/> bytes, or throws at an early end.</summary>
    public static async Task<byte[]> ReadExactlyAsync(this Socket socket, int count, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(socket);
        var buffer = new byte[count];
        var filled = 0;
        while (filled < count)
        {
            var read = await socket.ReceiveAsync(buffer.AsMemory(filled), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                throw new EndOfStreamException($"The connection ended after {filled} of {count} bytes.");
            }

            filled += read;
        }

        return buffer;
    }

    /// <summary>Ends the connection with a TCP reset.</summary>
    public static void Reset(this Socket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        socket.LingerState = new LingerOption(true, 0);
        socket.Close();
    }

    /// <summary>Reads until FIN or reset: how the connection ended, and what arrived first.</summary>
    public static async Task<(byte[] Data, bool WasReset)> ReadUntilClosedAsync(this Socket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        using var received = new MemoryStream();
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                var read = await socket.ReceiveAsync(buffer).ConfigureAwait(false);
                if (read == 0)
                {
                    return (received.ToArray(), false);
                }

                received.Write(buffer, 0, read);
            }
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
        {
            return (received.ToArray(), true);
        }
    }

    public static byte[] RandomBytes(int count) => RandomNumberGenerator.GetBytes(count);

    public static string Sha256(ReadOnlySpan<byte> data) => Convert.ToHexString(SHA256.HashData(data));
}
