using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace GitHubActionsPort.TestSupport;

/// <summary>
/// A TCP target on 127.0.0.1 with a port from the OS. Each accepted connection runs the handler; what the handlers
/// saw (their exceptions, the count of connections) is kept for assertions.
/// </summary>
public sealed class TcpTestServer : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly Func<Socket, CancellationToken, Task> _handler;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentBag<Task> _connections = [];
    private readonly Task _accepting;
    private int _accepted;

    public TcpTestServer(Func<Socket, CancellationToken, Task> handler)
    {
        _handler = handler;
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(1024);
        EndPoint = (IPEndPoint)_listener.LocalEndPoint!;
        _accepting = AcceptAsync();
    }

    public IPEndPoint EndPoint { get; }

    /// <summary>The value for <c>Broker:Targets:NAME</c>.</summary>
    public string Address => $"127.0.0.1:{EndPoint.Port}";

    public int AcceptedCount => Volatile.Read(ref _accepted);

    public ConcurrentQueue<Exception> HandlerErrors { get; } = new();

    /// <summary>Echoes every byte until the client half-closes, then half-closes too.</summary>
    public static TcpTestServer Echo() => new(Handlers.EchoAsync);

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        await _accepting.ConfigureAwait(false);
        await Task.WhenAll(_connections).WaitAsync(TaskTimeouts.Default).ConfigureAwait(false);
        _stopping.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (true)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            Interlocked.Increment(ref _accepted);
            _connections.Add(RunAsync(socket));
        }
    }

    private async Task RunAsync(Socket socket)
    {
        try
        {
            await _handler(socket, _stopping.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            HandlerErrors.Enqueue(ex);
        }
        finally
        {
            socket.Dispose();
        }
    }
}
