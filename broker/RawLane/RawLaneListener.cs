using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using GitHubActionsPort.Broker.Connections;
using GitHubActionsPort.Broker.Hosting;
using GitHubActionsPort.Protocol.Tunnels;

namespace GitHubActionsPort.Broker.RawLane;

/// <summary>
/// The raw lane's listening socket (<c>Broker:Lanes:Raw:Url</c>), apart from Kestrel: the lane's connections are
/// spliced socket to socket, with no HTTP server's buffers in between. Bound at start-up, so a port in use stops
/// the broker with the key to fix; its connections pass the same <see cref="ConnectionGuard"/> as Kestrel's (one
/// count against <c>Broker:Transport:MaxConnections</c>, unproven until a Hello is accepted), and end when the
/// broker stops.
/// </summary>
internal sealed partial class RawLaneListener(
    LaneSettings settings,
    ConnectionGuard guard,
    DataLanes lanes,
    RawLaneConnection connections,
    ILogger<RawLaneListener> logger) : IHostedService, IDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<Task, bool> _running = new();
    private Socket? _socket;
    private Task _accepting = Task.CompletedTask;
    private int _disposed;

    /// <summary>Where the lane listens (port 0 resolved); null while it does not.</summary>
    public Uri? Address { get; private set; }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!settings.RawEnabled)
        {
            return Task.CompletedTask;
        }

        var endPoint = new IPEndPoint(settings.RawBindAddress, settings.RawUrl.Port);
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (endPoint.Address.Equals(IPAddress.IPv6Any))
            {
                socket.DualMode = true;
            }

            socket.Bind(endPoint);
            socket.Listen(512);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            // An address problem, not a configuration one: exit code 3 (cannot listen), naming the key to change.
            throw new ListenException($"the raw lane cannot listen on {endPoint} ({LaneSettings.Section}:Raw:Url): {ex.Message}", ex);
        }

        _socket = socket;
        var bound = (IPEndPoint)socket.LocalEndPoint!;
        Address = new UriBuilder(settings.RawUrl.Scheme, settings.RawUrl.Host, bound.Port).Uri;
        lanes.RawLaneListening(bound.Port);
        Log.Listening(logger, Address, settings.RawUsesTls ? "TLS" : "plain TCP");
        _accepting = AcceptAsync(socket);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        lanes.RawLaneStopped();
        await _stopping.CancelAsync().ConfigureAwait(false);
        _socket?.Dispose();
        await _accepting.ConfigureAwait(false);
        // Tunnels end with the drain (their gate watches its stopping token), which is over before this runs; wait for
        // their records, as long as the host's shutdown allows.
        try
        {
            await Task.WhenAll(_running.Keys).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Log.StoppedWaiting(logger, _running.Count);
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        // Stopping first: a broker whose start failed after this bound is disposed without StopAsync, and the accept
        // loop must take the closed socket for the end it is, not for a failed accept to log and retry.
        _stopping.Cancel();
        _socket?.Dispose();
        _stopping.Dispose();
    }

    private async Task AcceptAsync(Socket listener)
    {
        var stopping = _stopping.Token;
        await AcceptLoop.RunAsync(listener, Serve, ex => Log.AcceptFailed(logger, ex.SocketErrorCode, ex), TimeProvider.System, stopping).ConfigureAwait(false);

        void Serve(Socket accepted)
        {
            var admitted = guard.TryAdmit(accepted.RemoteEndPoint, _ => Reset(accepted));
            if (admitted is null)
            {
                Reset(accepted);
                return;
            }

            var serving = ServeAsync(accepted, admitted, stopping);
            _running.TryAdd(serving, true);
            _ = serving.ContinueWith(t => _running.TryRemove(t, out _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    private async Task ServeAsync(Socket accepted, GuardedConnection admitted, CancellationToken stopping)
    {
        try
        {
            // Off the accept loop at once: a handshake waits on the peer.
            await Task.Yield();
            await connections.RunAsync(accepted, admitted.Prove, stopping).ConfigureAwait(false);
        }
        finally
        {
            admitted.Dispose();
        }
    }

    /// <summary>Ends a connection at once, with a reset: whatever it was doing fails, and the serving task ends.</summary>
    private static void Reset(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0);
        }
        catch (Exception ex) when (ex is ObjectDisposedException or SocketException)
        {
        }

        socket.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Raw lane listening on {Address} ({Transport})", EventName = "RawLaneListening")]
        public static partial void Listening(ILogger logger, Uri address, string transport);

        [LoggerMessage(2, LogLevel.Error, "Accepting raw-lane connections failed ({SocketError}); retrying in a second", EventName = "RawLaneAcceptFailed")]
        public static partial void AcceptFailed(ILogger logger, SocketError socketError, Exception exception);

        [LoggerMessage(4, LogLevel.Warning, "Stopped waiting for {Count} raw-lane connections to end: the host's shutdown timeout passed", EventName = "RawLaneStopTimedOut")]
        public static partial void StoppedWaiting(ILogger logger, int count);
    }
}
