using System.Net;
using System.Net.Sockets;
using GitHubActionsPort.Agent.Cli;
using GitHubActionsPort.Protocol.Tunnels;

namespace GitHubActionsPort.Agent.Forwarding;

/// <summary>A listening socket for one forward. Bound before the session opens, so a busy port fails fast.</summary>
internal sealed partial class ForwardListener : IDisposable
{
    private readonly Socket _socket;

    private ForwardListener(Socket socket, ForwardSpec forward)
    {
        _socket = socket;
        Forward = forward;
        LocalEndPoint = (IPEndPoint)socket.LocalEndPoint!;
    }

    public ForwardSpec Forward { get; }

    /// <summary>Where it listens, with the real port when the forward asked for port 0.</summary>
    public IPEndPoint LocalEndPoint { get; }

    public static ForwardListener Bind(ForwardSpec forward)
    {
        ArgumentNullException.ThrowIfNull(forward);
        var socket = new Socket(forward.Listen.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (forward.Listen.AddressFamily == AddressFamily.InterNetworkV6)
            {
                socket.DualMode = false;
            }

            socket.Bind(forward.Listen);
            socket.Listen(512);
            return new ForwardListener(socket, forward);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            var why = ex.SocketErrorCode switch
            {
                SocketError.AddressAlreadyInUse => "the port is already in use",
                SocketError.AddressNotAvailable => "the address is not on this machine",
                SocketError.AccessDenied => "permission denied (a privileged port, or one reserved or held exclusively by another program)",
                _ => ex.Message,
            };
            throw new AgentException(ExitCodes.CannotListen, $"cannot listen on {forward.Listen}: {why}", ex);
        }
    }

    /// <summary>
    /// Accepts until cancelled, handing each connection to <paramref name="handle"/> without waiting for it. An
    /// accept that fails for want of resources (file descriptors, memory) is logged and retried after a pause, as
    /// Kestrel does, rather than silently ending the forward.
    /// </summary>
    public Task AcceptAsync(Action<Socket, ForwardSpec> handle, ILogger logger, TimeProvider time, CancellationToken cancellationToken) =>
        AcceptLoop.RunAsync(_socket, accepted => handle(accepted, Forward), ex => AcceptLog.AcceptFailed(logger, LocalEndPoint, ex.SocketErrorCode, ex), time, cancellationToken);

    public void Dispose() => _socket.Dispose();

    private static partial class AcceptLog
    {
        [LoggerMessage(20, LogLevel.Error, "Accepting on {EndPoint} failed ({SocketError}); retrying in a second", EventName = "AcceptFailed")]
        public static partial void AcceptFailed(ILogger logger, IPEndPoint endPoint, SocketError socketError, Exception exception);
    }
}
