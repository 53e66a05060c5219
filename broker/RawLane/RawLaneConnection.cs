using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using GitHubActionsPort.Broker.Auth;
using GitHubActionsPort.Broker.Draining;
using GitHubActionsPort.Broker.Leases;
using GitHubActionsPort.Broker.Tunnels;
using GitHubActionsPort.Protocol;
using GitHubActionsPort.Protocol.RawLane;
using GitHubActionsPort.Protocol.Tunnels;
using Grpc.Core;

namespace GitHubActionsPort.Broker.RawLane;

/// <summary>
/// One raw-lane connection, from accept to close: TLS (when configured) with the lane's ALPN id, a Hello proving
/// the lease and its session key, a warm wait for the Open, then the tunnel itself through the same
/// <see cref="TunnelGate"/> as Tunnel calls, spliced socket to socket with no framing. Every refusal is a Reply with
/// a gRPC status and words the agent can act on; every wait an outsider can drive is bounded.
/// </summary>
internal sealed partial class RawLaneConnection(
    LaneSettings settings,
    LeaseStore leases,
    TunnelGate gate,
    BrokerDrain drain,
    ILogger<RawLaneConnection> logger,
    RawLaneTls? tls = null)
{
    /// <summary>The lane's name in the audit trail.</summary>
    private const string LaneName = "raw";

    /// <summary>
    /// Authenticated connections one lease may have waiting for their Open beyond its own tunnel cap: an agent keeps
    /// two warm, and each new tunnel waits there for the moment between its Hello and its Open.
    /// </summary>
    internal const int WarmAllowance = 8;

    /// <summary>Serves <paramref name="socket"/> to its end, calling <paramref name="proven"/> once its Hello is accepted; never throws.</summary>
    public async Task RunAsync(Socket socket, Action proven, CancellationToken stopping)
    {
        var peer = Describe(socket.RemoteEndPoint);
        TunnelSocket? agent = null;
        try
        {
            agent = await ConnectAsync(socket, peer, stopping).ConfigureAwait(false);
            if (agent is not null && await AuthenticateAsync(agent, peer, stopping).ConfigureAwait(false) is { } lease)
            {
                proven();
                await ServeAsync(agent, lease, peer, stopping).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or AuthenticationException or OperationCanceledException or InvalidDataException or ObjectDisposedException)
        {
            Log.ConnectionEnded(logger, peer, ex.Message);
            agent?.Abort();
        }
        catch (Exception ex)
        {
            Log.ConnectionCrashed(logger, peer, ex);
            agent?.Abort();
        }
        finally
        {
            if (agent is not null)
            {
                await agent.DisposeAsync().ConfigureAwait(false);
            }
            else
            {
                socket.Dispose();
            }
        }
    }

    /// <summary>The connection as a <see cref="TunnelSocket"/>, after TLS when the lane uses it; null when the peer is not one of ours.</summary>
    private async Task<TunnelSocket?> ConnectAsync(Socket socket, string peer, CancellationToken stopping)
    {
        if (tls is null)
        {
            return new TunnelSocket(socket);
        }

        var stream = new SslStream(new NetworkStream(socket, ownsSocket: false), leaveInnerStreamOpen: false);
        try
        {
            using var handshake = CancellationTokenSource.CreateLinkedTokenSource(stopping);
            handshake.CancelAfter(settings.RawHandshakeTimeout);
            await stream.AuthenticateAsServerAsync(tls.Options(), handshake.Token).ConfigureAwait(false);
            if (!RawLaneTls.ChoseRawLane(stream))
            {
                Log.ConnectionEnded(logger, peer, $"the TLS client did not ask for ALPN '{RawLaneFrame.ApplicationProtocol}'");
                await stream.DisposeAsync().ConfigureAwait(false);
                return null;
            }

            return new TunnelSocket(socket, stream);
        }
        catch
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Reads the Hello and checks its lease and proof; the lease, or null after a refusal was sent.</summary>
    private async Task<Leases.Lease?> AuthenticateAsync(TunnelSocket agent, string peer, CancellationToken stopping)
    {
        RawLaneMessage? message;
        using (var handshake = CancellationTokenSource.CreateLinkedTokenSource(stopping))
        {
            handshake.CancelAfter(settings.RawHandshakeTimeout);
            message = await ReceiveOrRefuseAsync(agent, peer, handshake.Token).ConfigureAwait(false);
        }

        if (message is null)
        {
            return null;
        }

        if (message is not RawLaneHello hello)
        {
            await RefuseAsync(agent, peer, StatusCode.InvalidArgument, "a raw-lane connection must start with a Hello", stopping).ConfigureAwait(false);
            return null;
        }

        // A new connection is a new tunnel to be: a draining broker sends it elsewhere before checking its lease. A
        // warm connection accepted before the drain hears the same from the gate at its Open.
        if (drain.IsDraining)
        {
            await RefuseAsync(agent, peer, StatusCode.Unavailable, BrokerDraining.TunnelDetail, stopping).ConfigureAwait(false);
            return null;
        }

        Leases.Lease? lease;
        string? failure;
        Leases.Lease? endedForGood;
        try
        {
            (lease, failure, endedForGood) = await leases.AuthenticateAsync(hello.LeaseToken, hello.Proof, RawLaneFrame.HelloMethod, string.Empty).ConfigureAwait(false);
        }
        catch (RpcException unavailable)
        {
            // The state store could not answer: the agent hears why, and may try again (or another instance).
            await RefuseAsync(agent, peer, unavailable.StatusCode, unavailable.Status.Detail, stopping).ConfigureAwait(false);
            return null;
        }

        if (lease is null)
        {
            Log.LeaseRejected(logger, peer, failure!);
            // A lease ended for good is refused in the same words a Tunnel call hears (the reply has no trailers).
            await RefuseAsync(agent, peer, endedForGood is null ? StatusCode.Unauthenticated : StatusCode.PermissionDenied, failure!, stopping).ConfigureAwait(false);
            return null;
        }

        await RawLaneExchange.SendAsync(agent, RawLaneReply.Accepted, stopping).ConfigureAwait(false);
        Log.Authenticated(logger, peer, lease.Id);
        return lease;
    }

    /// <summary>Waits, warm, for the Open; then opens the tunnel through the gate and splices it.</summary>
    private async Task ServeAsync(TunnelSocket agent, Leases.Lease lease, string peer, CancellationToken stopping)
    {
        var maxWarm = lease.MaxConnections + WarmAllowance;
        if (!lease.TryHoldWarmConnection(maxWarm))
        {
            await RefuseAsync(agent, peer, StatusCode.ResourceExhausted, $"lease {lease.Id} already holds {maxWarm} raw-lane connections waiting for a tunnel", stopping).ConfigureAwait(false);
            return;
        }

        RawLaneMessage? message;
        try
        {
            // A warm connection waits at most the idle timeout, and not past its lease or the broker's stop.
            using var idle = CancellationTokenSource.CreateLinkedTokenSource(stopping, lease.Ended);
            idle.CancelAfter(settings.RawIdleTimeout);
            message = await ReceiveOrRefuseAsync(agent, peer, idle.Token).ConfigureAwait(false);
        }
        finally
        {
            lease.ReleaseWarmConnection();
        }

        if (message is not RawLaneOpen open)
        {
            if (message is null && lease.IsEndedForGood)
            {
                // A warm connection is the agent's next tunnel: it reads why there will be none.
                var ended = LeaseStore.EndedStatus(lease);
                await RefuseAsync(agent, peer, ended.StatusCode, ended.Detail, stopping).ConfigureAwait(false);
            }
            else if (message is not null)
            {
                await RefuseAsync(agent, peer, StatusCode.InvalidArgument, "an authenticated raw-lane connection expects an Open", stopping).ConfigureAwait(false);
            }

            return;
        }

        Log.OpenReceived(logger, peer, AuditText.Clean(open.Target));
        OpenedTunnel tunnel;
        try
        {
            tunnel = await gate.OpenAsync(lease, open.Target, peer, LaneName, CancellationToken.None).ConfigureAwait(false);
        }
        catch (RpcException refused)
        {
            await RawLaneExchange.SendAsync(agent, new RawLaneReply(refused.StatusCode, refused.Status.Detail), stopping).ConfigureAwait(false);
            return;
        }

        await using (tunnel.ConfigureAwait(false))
        {
            var result = await AcceptAndSpliceAsync(agent, tunnel).ConfigureAwait(false);
            var failure = gate.Outcome(tunnel, result);
            await gate.ClosedAsync(tunnel, result, failure).ConfigureAwait(false);
            if (failure is not null)
            {
                // No framing to carry a reason: a failed tunnel is a reset, as a failed TCP connection would be.
                agent.Abort();
            }
        }
    }

    /// <summary>
    /// Tells the agent its tunnel is open, then carries it. An agent gone (or a tunnel ended) before it heard is an
    /// outcome like any other, so the tunnel recorded as opened is recorded as closed too.
    /// </summary>
    private static async Task<SpliceResult> AcceptAndSpliceAsync(TunnelSocket agent, OpenedTunnel tunnel)
    {
        try
        {
            // Accepted: from here the connection is the tunnel's bytes and nothing else.
            await RawLaneExchange.SendAsync(agent, RawLaneReply.Accepted, tunnel.Ends.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            return new SpliceResult(tunnel.Ends.IsCancellationRequested ? TunnelEnd.Canceled : TunnelEnd.StreamFailed, ex, 0, 0);
        }

        return await TunnelSplice.RunAsync(tunnel.Target, agent, tunnel.Ends.Token).ConfigureAwait(false);
    }

    /// <summary>The next message; null (after answering with the reason) for bytes that are not one.</summary>
    private async Task<RawLaneMessage?> ReceiveOrRefuseAsync(TunnelSocket agent, string peer, CancellationToken cancellationToken)
    {
        try
        {
            return await RawLaneExchange.ReceiveAsync(agent, cancellationToken).ConfigureAwait(false);
        }
        catch (InvalidDataException ex)
        {
            await RefuseAsync(agent, peer, StatusCode.InvalidArgument, ex.Message, cancellationToken).ConfigureAwait(false);
            return null;
        }
        catch (EndOfStreamException ex)
        {
            Log.ConnectionEnded(logger, peer, ex.Message);
            return null;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Log.ConnectionEnded(logger, peer, "no message in time (or the lease ended, or the broker is stopping)");
            return null;
        }
    }

    private async Task RefuseAsync(TunnelSocket agent, string peer, StatusCode status, string detail, CancellationToken cancellationToken)
    {
        Log.Refused(logger, peer, status, detail);
        try
        {
            await RawLaneExchange.SendAsync(agent, new RawLaneReply(status, detail), cancellationToken).ConfigureAwait(false);
            // A clean end after the reply, so the agent reads it before the connection goes.
            await agent.ShutdownSendAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The peer is gone; the refusal stands.
        }
    }

    private static string Describe(EndPoint? endPoint) => endPoint switch
    {
        IPEndPoint { AddressFamily: AddressFamily.InterNetworkV6 } ip => $"ipv6:{ip}",
        IPEndPoint ip => $"ipv4:{ip}",
        _ => "unknown",
    };

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "Raw-lane connection from {Peer} ended: {Reason}", EventName = "RawLaneConnectionEnded")]
        public static partial void ConnectionEnded(ILogger logger, string peer, string reason);

        [LoggerMessage(2, LogLevel.Error, "Raw-lane connection from {Peer} failed unexpectedly", EventName = "RawLaneConnectionCrashed")]
        public static partial void ConnectionCrashed(ILogger logger, string peer, Exception exception);

        [LoggerMessage(3, LogLevel.Warning, "RawLane from {Peer} refused: {Reason}", EventName = "LeaseRejected")]
        public static partial void LeaseRejected(ILogger logger, string peer, string reason);

        [LoggerMessage(5, LogLevel.Debug, "Raw-lane connection from {Peer} authenticated for lease {LeaseId}; waiting for its Open", EventName = "RawLaneAuthenticated")]
        public static partial void Authenticated(ILogger logger, string peer, string leaseId);

        [LoggerMessage(6, LogLevel.Debug, "Raw-lane connection from {Peer} asks for target {Target}", EventName = "RawLaneOpen")]
        public static partial void OpenReceived(ILogger logger, string peer, string target);

        [LoggerMessage(4, LogLevel.Information, "Raw-lane connection from {Peer} refused ({Status}): {Detail}", EventName = "RawLaneRefused")]
        public static partial void Refused(ILogger logger, string peer, StatusCode status, string detail);
    }
}
