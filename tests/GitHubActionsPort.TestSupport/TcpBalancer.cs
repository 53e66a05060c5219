using System.Net;
using System.Net.Sockets;

namespace GitHubActionsPort.TestSupport;

/// <summary>
/// A layer-4 balancer on 127.0.0.1:0, as operators put in front of several brokers: each accepted connection goes
/// to the next backend in turn (round robin), skipping one that refuses, and its bytes pass through untouched,
/// half-close and resets included. No TLS termination: leases are bound to the agent's session key, not to TLS.
/// </summary>
public sealed class TcpBalancer : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _accepting;
    private readonly Lock _lock = new();
    private readonly HashSet<Socket> _open = [];
    private IPEndPoint[] _backends;
    private int _next;

    public TcpBalancer(params IPEndPoint[] backends)
    {
        _backends = backends;
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(512);
        EndPoint = (IPEndPoint)_listener.LocalEndPoint!;
        _accepting = AcceptAsync();
    }

    public IPEndPoint EndPoint { get; }

    /// <summary>The balancer as a URL of <paramref name="scheme"/>.</summary>
    public Uri Url(string scheme = "http") => new($"{scheme}://127.0.0.1:{EndPoint.Port}");

    /// <summary>Sends new connections to <paramref name="backends"/> from now on; connections already made stay where they are.</summary>
    public void Route(params IPEndPoint[] backends) => Volatile.Write(ref _backends, backends);

    /// <summary>Resets every connection passing through now, as a balancer failing over does; new ones are served.</summary>
    public void ResetAll()
    {
        lock (_lock)
        {
            foreach (var socket in _open)
            {
                Abort(socket);
            }
        }
    }

    private async Task AcceptAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            _ = ServeAsync(client);
        }
    }

    private async Task ServeAsync(Socket client)
    {
        client.NoDelay = true;
        var backend = await ConnectBackendAsync().ConfigureAwait(false);
        if (backend is null)
        {
            Abort(client);
            return;
        }

        Track(client, backend);
        try
        {
            // Each direction ends on its own, so a half-close passes through; a failure either way resets both.
            var up = PumpAsync(client, backend);
            var down = PumpAsync(backend, client);
            if (!await Task.WhenAll(up, down).ContinueWith(t => t.Result.All(ok => ok), TaskScheduler.Default).ConfigureAwait(false))
            {
                Abort(client);
                Abort(backend);
            }
        }
        finally
        {
            Untrack(client, backend);
            client.Dispose();
            backend.Dispose();
        }
    }

    /// <summary>The next backend that accepts, trying each once; null when none does.</summary>
    private async Task<Socket?> ConnectBackendAsync()
    {
        var backends = Volatile.Read(ref _backends);
        var first = Interlocked.Increment(ref _next);
        for (var i = 0; i < backends.Length; i++)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(backends[(int)((uint)(first + i) % (uint)backends.Length)], _stopping.Token).ConfigureAwait(false);
                return socket;
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException)
            {
                socket.Dispose();
            }
        }

        return null;
    }

    /// <summary>Copies until the source ends (then half-closes the sink) or fails; false on a failure.</summary>
    private static async Task<bool> PumpAsync(Socket from, Socket to)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                var read = await from.ReceiveAsync(buffer, SocketFlags.None).ConfigureAwait(false);
                if (read == 0)
                {
                    to.Shutdown(SocketShutdown.Send);
                    return true;
                }

                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            return false;
        }
    }

    private static void Abort(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Already gone: nothing to reset.
        }

        socket.Dispose();
    }

    private void Track(Socket client, Socket backend)
    {
        lock (_lock)
        {
            _open.Add(client);
            _open.Add(backend);
        }
    }

    private void Untrack(Socket client, Socket backend)
    {
        lock (_lock)
        {
            _open.Remove(client);
            _open.Remove(backend);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        await _accepting.ConfigureAwait(false);
        lock (_lock)
        {
            foreach (var socket in _open)
            {
                Abort(socket);
            }
        }

        _stopping.Dispose();
    }
}
