using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;

namespace GitHubActionsPort.Protocol.Tunnels;

/// <summary>
/// A TCP end of a tunnel: a pipe reader over the connection's receive side, direct sends, and the two ways a TCP
/// stream can end (half-close and reset). Plain, or over TLS (the raw lane), where end of stream is TLS's
/// close_notify followed by the TCP half-close.
/// </summary>
public sealed class TunnelSocket : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly Stream _stream;
    private int _closed;
    private bool _sendShutdown;

    /// <param name="socket">The connected socket; owned from here on.</param>
    /// <param name="tls">A TLS stream already authenticated over <paramref name="socket"/>, or null for plain TCP.</param>
    public TunnelSocket(Socket socket, SslStream? tls = null)
    {
        ArgumentNullException.ThrowIfNull(socket);
        _socket = socket;
        _socket.NoDelay = true;
        // Until the tunnel ends cleanly, closing resets: if this process dies (killed, crashed), the kernel closes the
        // socket with a RST, not a FIN the peer would take for a clean end of a stream that was in fact cut short.
        _socket.LingerState = new LingerOption(true, 0);
        _stream = tls ?? (Stream)new NetworkStream(socket, ownsSocket: false);
        // Zero-byte reads wait for data before renting a buffer, so an idle tunnel holds no receive buffer.
        Input = tls is null
            ? PipeReader.Create(_stream, new StreamPipeReaderOptions(
                bufferSize: WireLimits.MaxChunkSize,
                minimumReadSize: WireLimits.MaxChunkSize / 4,
                leaveOpen: true,
                useZeroByteReads: true))
            : ReadAhead(tls);
    }

    /// <summary>Bytes received from the peer; completes at the peer's FIN.</summary>
    public PipeReader Input { get; }

    public EndPoint? RemoteEndPoint => _socket.RemoteEndPoint;

    /// <summary>
    /// Whether an end of stream just read was in fact a reset. Linux reports a reset once, to whichever call on the
    /// socket asks first: when the other direction's send took it, the receive sees only an end of stream, and a
    /// relay would pass on a clean half-close for a connection that was reset. After a peer's FIN the connection
    /// waits in CLOSE_WAIT (TIME_WAIT or CLOSING once ours went too); after a reset it is CLOSED, which TCP_INFO tells.
    /// Elsewhere (Windows keeps reporting the reset to every call) this is false.
    /// </summary>
    internal bool EndWasReset()
    {
        // Once our own FIN is out, no send of ours can take a reset from a receive, and a clean close ends in CLOSED
        // too (CLOSE_WAIT, LAST_ACK, CLOSED): the state says nothing then, and the receive saw any reset itself.
        if (!OperatingSystem.IsLinux() || Volatile.Read(ref _sendShutdown))
        {
            return false;
        }

        Span<byte> info = stackalloc byte[8];
        try
        {
            // getsockopt(IPPROTO_TCP, TCP_INFO): struct tcp_info begins with the state, a byte.
            return _socket.GetRawSocketOption(IpProtocolTcp, TcpInfo, info) >= 1 && info[0] == TcpStateClose;
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            return false;
        }
    }

    private const int IpProtocolTcp = 6;
    private const int TcpInfo = 11;
    private const byte TcpStateClose = 7;

    /// <summary>Whether bytes arrive straight from the socket (no TLS), so a copy loop may receive them itself.</summary>
    internal bool IsPlain => _stream is NetworkStream;

    /// <summary>
    /// Receives straight from the socket, past <see cref="Input"/>: for a copy loop that has taken what the pipe
    /// held (<see cref="PipeReader.TryRead"/>) and reads nothing through it again. Plain sockets only.
    /// </summary>
    internal ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken) =>
        _socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);

    /// <summary>
    /// Sends all of <paramref name="data"/>. Writes go straight to the socket rather than through a pipe: the
    /// await completing is the backpressure, and it saves a copy.
    /// </summary>
    public ValueTask SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken) =>
        _stream.WriteAsync(data, cancellationToken);

    /// <summary>Half-closes: the peer reads end of stream, and can still send to us.</summary>
    public async ValueTask ShutdownSendAsync()
    {
        Volatile.Write(ref _sendShutdown, true);
        if (_stream is SslStream tls)
        {
            // close_notify first, so the peer's TLS reads end cleanly rather than at a truncated record stream.
            await tls.ShutdownAsync().ConfigureAwait(false);
        }

        _socket.Shutdown(SocketShutdown.Send);
    }

    /// <summary>Ends the connection with a TCP reset, so the peer sees an error rather than a clean end.</summary>
    public void Abort()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        try
        {
            _socket.LingerState = new LingerOption(true, 0);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Already gone; closing is all that is left.
        }

        _socket.Dispose();
    }

    /// <summary>
    /// A TLS read returns one record (16 KiB) at most, so a copy loop that reads, then sends, then reads again pays a
    /// round of both for every record, and one stream crawled. Here a loop of its own decrypts ahead into a bounded
    /// pipe while the reader sends what came before: reading and sending overlap, and a read takes every record that
    /// has arrived. The pipe pauses at <see cref="ReadAheadLimit"/>, so backpressure still reaches the sender.
    /// </summary>
    private static PipeReader ReadAhead(SslStream tls)
    {
        var pipe = new Pipe(new PipeOptions(
            readerScheduler: PipeScheduler.ThreadPool,
            writerScheduler: PipeScheduler.Inline,
            pauseWriterThreshold: ReadAheadLimit,
            resumeWriterThreshold: ReadAheadLimit / 2,
            minimumSegmentSize: TlsRecordSize,
            useSynchronizationContext: false));
        _ = FillAsync(tls, pipe.Writer);
        return pipe.Reader;
    }

    private const int TlsRecordSize = 16 * 1024;

    private const int ReadAheadLimit = 256 * 1024;

    /// <summary>Decrypts into <paramref name="writer"/> until end of stream, a failure (passed on to the reader), or the reader's end.</summary>
    private static async Task FillAsync(SslStream tls, PipeWriter writer)
    {
        Exception? failure = null;
        try
        {
            while (true)
            {
                // Wait for data before taking a buffer: an idle tunnel holds none.
                await tls.ReadAsync(Memory<byte>.Empty).ConfigureAwait(false);
                var read = await tls.ReadAsync(writer.GetMemory(TlsRecordSize)).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                writer.Advance(read);
                var flushed = await writer.FlushAsync().ConfigureAwait(false);
                if (flushed.IsCompleted || flushed.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (Exception ex)
        {
            // A reset, a TLS alert, or the stream disposed under us: the reader sees it as the read's failure.
            failure = ex;
        }

        await writer.CompleteAsync(failure).ConfigureAwait(false);
    }

    /// <summary>Closes gracefully (what was sent is still delivered), unless <see cref="Abort"/> reset it already.</summary>
    public async ValueTask DisposeAsync()
    {
        await Input.CompleteAsync().ConfigureAwait(false);
        if (Volatile.Read(ref _closed) == 0)
        {
            try
            {
                _socket.LingerState = new LingerOption(false, 0);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                // Gone already: nothing left to deliver.
            }
        }

        await _stream.DisposeAsync().ConfigureAwait(false);
        if (Interlocked.Exchange(ref _closed, 1) == 0)
        {
            _socket.Dispose();
        }
    }
}
