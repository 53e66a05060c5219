using System.Net;
using System.Net.Sockets;

namespace GitHubActionsPort.Tests.Faults;

/// <summary>
/// A client that keeps a tunnel busy until it breaks: it sends a <see cref="BytePattern"/> through an echo target
/// without pause and checks every byte that comes back, so at any moment the tunnel has data moving both ways.
/// </summary>
internal sealed class EchoPump : IDisposable
{
    private readonly Socket _socket;
    private readonly BytePattern _pattern;
    private readonly TaskCompletionSource _movedEnough = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly long _enough;
    private long _received;

    private EchoPump(Socket socket, BytePattern pattern, long enough)
    {
        _socket = socket;
        _pattern = pattern;
        _enough = enough;
        Ended = RunAsync();
    }

    /// <summary>Completes once <c>enough</c> bytes have come back intact: the tunnel is demonstrably moving data.</summary>
    public Task Moving => _movedEnough.Task;

    /// <summary>What the read side saw when the tunnel ended: bytes back, reset or FIN, and any wrong byte.</summary>
    public Task<PatternReadResult> Ended { get; }

    public static async Task<EchoPump> StartAsync(IPEndPoint endPoint, BytePattern pattern, long enough) =>
        new(await SocketIo.ConnectAsync(endPoint), pattern, enough);

    public void Dispose() => _socket.Dispose();

    private async Task<PatternReadResult> RunAsync()
    {
        var sending = SendAsync();
        var read = await ReadAsync();
        // Whatever ended the reads, the sends end with the socket (a pending send fails at once).
        _socket.Dispose();
        var sendSawReset = await sending;
        _movedEnough.TrySetException(new InvalidOperationException($"The tunnel ended after {read.Received} bytes, before it moved {_enough}."));
        // The kernel reports a reset once, to whichever call asks first: if the sender took it, the reader then
        // finds the connection shut and sees what looks like a clean end.
        return read with { WasReset = read.WasReset || sendSawReset };
    }

    /// <summary>Sends until the connection breaks; true when it broke by a reset (rather than by our own close).</summary>
    private async Task<bool> SendAsync()
    {
        try
        {
            for (long offset = 0; ; )
            {
                offset += await _socket.SendAsync(_pattern.Chunk(offset, 64 * 1024));
            }
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted or SocketError.Shutdown)
        {
            // Reset by the peer (EPIPE, Shutdown, once the reset was reported to a read): we never shut down ourselves.
            return true;
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Our own close, after the read side ended.
            return false;
        }
    }

    private async Task<PatternReadResult> ReadAsync()
    {
        var buffer = new byte[64 * 1024];
        long? mismatchAt = null;
        try
        {
            while (true)
            {
                var read = await _socket.ReceiveAsync(buffer);
                if (read == 0)
                {
                    return new PatternReadResult(_received, WasReset: false, mismatchAt);
                }

                if (mismatchAt is null && !_pattern.Matches(_received, buffer.AsSpan(0, read)))
                {
                    mismatchAt = _received;
                }

                _received += read;
                if (_received >= _enough)
                {
                    _movedEnough.TrySetResult();
                }
            }
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
        {
            return new PatternReadResult(_received, WasReset: true, mismatchAt);
        }
    }
}
