using System.Buffers;
using System.Net;
using System.Net.Sockets;
using GitHubActionsPort.Protocol.RawLane;

namespace GitHubActionsPort.Tests.RawLane;

/// <summary>
/// A raw-lane client made of a plain socket that speaks the wire format itself, for tests that send what no agent
/// would and read exactly what the broker answers: its messages, then the tunnel's bytes, then how it closed.
/// </summary>
internal sealed class RawLanePeer : IDisposable
{
    /// <summary>Received and not yet handed out: a read of the socket can hold a message and what follows it.</summary>
    private byte[] _pending = [];

    private RawLanePeer(Socket socket)
    {
        Socket = socket;
        LocalEndPoint = (IPEndPoint)socket.LocalEndPoint!;
    }

    public Socket Socket { get; }

    /// <summary>This end's address, as the broker's log names the peer.</summary>
    public IPEndPoint LocalEndPoint { get; }

    public static async Task<RawLanePeer> ConnectAsync(Uri rawLane)
    {
        ArgumentNullException.ThrowIfNull(rawLane);
        return new RawLanePeer(await SocketIo.ConnectAsync(new IPEndPoint(IPAddress.Parse(rawLane.Host), rawLane.Port)));
    }

    /// <summary>The messages' frames, back to back in one send.</summary>
    public Task SendAsync(params RawLaneMessage[] messages) => Socket.SendAllAsync(messages.SelectMany(m => RawLaneFrame.Encode(m)).ToArray());

    public Task SendAsync(byte[] bytes) => Socket.SendAllAsync(bytes);

    /// <summary>The broker's next message; throws at bytes that are not one, or at a close before one is whole.</summary>
    public async Task<RawLaneMessage> ReceiveAsync()
    {
        var chunk = new byte[16 * 1024];
        while (true)
        {
            var buffer = new ReadOnlySequence<byte>(_pending);
            switch (RawLaneFrame.TryRead(ref buffer, out var message, out var error))
            {
                case RawLaneReadStatus.Read:
                    _pending = buffer.ToArray();
                    return message!;
                case RawLaneReadStatus.Invalid:
                    throw new InvalidDataException($"The broker sent bytes that are not a raw-lane message: {error}");
            }

            var read = await Socket.ReceiveAsync(chunk.AsMemory()).AsTask().DefaultTimeout();
            if (read == 0)
            {
                throw new EndOfStreamException($"The broker closed the connection {(_pending.Length == 0 ? "instead of answering" : $"after {_pending.Length} bytes of a message")}.");
            }

            _pending = [.. _pending, .. chunk.AsSpan(0, read)];
        }
    }

    /// <summary>The next <paramref name="count"/> bytes after the messages read so far.</summary>
    public async Task<byte[]> ReadExactlyAsync(int count)
    {
        var taken = _pending.Length <= count ? _pending : _pending[..count];
        _pending = _pending[taken.Length..];
        var more = await Socket.ReadExactlyAsync(count - taken.Length).DefaultTimeout();
        return [.. taken, .. more];
    }

    /// <summary>Everything after the messages read so far, until the broker closes (FIN) or resets the connection.</summary>
    public async Task<(byte[] Data, bool WasReset)> ReadUntilClosedAsync()
    {
        var (data, wasReset) = await Socket.ReadUntilClosedAsync().DefaultTimeout();
        byte[] rest = [.. _pending, .. data];
        _pending = [];
        return (rest, wasReset);
    }

    public void Dispose() => Socket.Dispose();
}
