using System.Diagnostics;
using System.Net.Sockets;
using GitHubActionsPort.Agent.Cli;
using GitHubActionsPort.Agent.Forwarding.Failover;
using GitHubActionsPort.Agent.Forwarding.RawLane;
using GitHubActionsPort.Protocol;
using GitHubActionsPort.Protocol.RawLane;
using GitHubActionsPort.Protocol.Tunnels;
using GitHubActionsPort.Protocol.V1;
using Grpc.Core;

namespace GitHubActionsPort.Agent.Forwarding;

/// <summary>
/// Carries one accepted local connection through the broker, on the raw lane (a connection of its own) or the gRPC
/// lane (a Tunnel call), as <c>--lane</c> and the broker's offer decide, through the broker the lease's route uses
/// now (and the next one, when that one turns out to be gone). A clean end on both sides closes the local socket
/// cleanly; any failure resets it, so the local client sees an error, never a silently short stream.
/// </summary>
internal sealed partial class TunnelClient(
    LeaseKeeper lease,
    ForwardStats stats,
    ILogger logger,
    DataLane lane = DataLane.Grpc,
    RawLanePool? rawLane = null,
    TimeProvider? time = null)
{
    /// <summary>
    /// How long a new connection waits for a new session when the broker has lost the lease (it restarted): about
    /// one full backoff of the reopen, so the first connection after a restart goes through instead of failing.
    /// </summary>
    private static readonly TimeSpan ReopenWait = TimeSpan.FromSeconds(10);

    /// <summary>How long <c>--lane auto</c> keeps to the gRPC lane after the raw lane could not be reached.</summary>
    private static readonly TimeSpan RawLaneRetryAfter = TimeSpan.FromSeconds(30);

    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private long _lastId;
    private long _rawLaneDownUntil;

    /// <summary>The broker (its index in the route) whose raw lane <see cref="_rawLaneDownUntil"/> is about.</summary>
    private int _rawLaneDownAt = -1;

    /// <summary>Serves one local connection to its end; never throws, so no failure goes unobserved.</summary>
    public async Task RunAsync(Socket accepted, ForwardSpec forward, CancellationToken stopping)
    {
        var id = Interlocked.Increment(ref _lastId);
        try
        {
            await TunnelAsync(id, accepted, forward, stopping).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            try
            {
                accepted.LingerState = new LingerOption(true, 0);
            }
            catch (Exception closed) when (closed is SocketException or ObjectDisposedException)
            {
                // Reset already.
            }

            accepted.Dispose();
            Log.TunnelCrashed(logger, id, forward.Target, ex);
        }
    }

    private async Task TunnelAsync(long id, Socket accepted, ForwardSpec forward, CancellationToken stopping)
    {
        var peer = accepted.RemoteEndPoint?.ToString() ?? "?";
        var started = Stopwatch.GetTimestamp();
        await using var local = new TunnelSocket(accepted);
        try
        {
            await CarryAsync(id, local, peer, started, forward, stopping).ConfigureAwait(false);
        }
        catch
        {
            // Whatever went wrong, the local client must see an error, not a clean end of what it was sent.
            local.Abort();
            throw;
        }
    }

    private async Task CarryAsync(long id, TunnelSocket local, string peer, long started, ForwardSpec forward, CancellationToken stopping)
    {
        var (opened, refusal) = await OpenAsync(forward.Target, stopping).ConfigureAwait(false);
        if (opened is not { } link)
        {
            // Counted before the client hears: 'ghaport status' run after a refused connection shows it.
            if (!stopping.IsCancellationRequested)
            {
                stats.Refused(forward);
                Log.TunnelRefused(logger, id, forward.Target, refusal!);
            }

            local.Abort();
            return;
        }

        await using (link.ConfigureAwait(false))
        {
            Log.TunnelOpened(logger, id, peer, forward.Target, link.Lane);
            stats.Opened(forward);
            var result = await link.SpliceAsync(local, stopping).ConfigureAwait(false);
            var reason = result.End switch
            {
                TunnelEnd.Completed => null,
                TunnelEnd.SocketFailed => "the local client reset the connection",
                TunnelEnd.StreamFailed when lease.Ended.IsCancellationRequested && lease.EndedForGood is null => lease.EndReason,
                TunnelEnd.StreamFailed => "the broker ended the tunnel: " + link.WhyBrokerFailed(result),
                _ when lease.Ended.IsCancellationRequested => lease.EndReason,
                _ => "the agent is stopping",
            };

            if (reason is not null)
            {
                // Reset the far side and the near side alike.
                link.Reset();
                local.Abort();
            }

            var elapsed = Stopwatch.GetElapsedTime(started);
            stats.Closed(forward, result.BytesFromSocket, result.BytesToSocket, elapsed, failed: reason is not null);
            if (reason is null)
            {
                Log.TunnelClosed(logger, id, forward.Target, result.BytesFromSocket, result.BytesToSocket, elapsed.TotalMilliseconds);
            }
            else
            {
                Log.TunnelFailed(logger, id, forward.Target, reason, result.BytesFromSocket, result.BytesToSocket, elapsed.TotalMilliseconds);
            }
        }
    }

    /// <summary>
    /// Dials <paramref name="target"/> through the broker and hangs up cleanly, without a local client: readiness
    /// proven end to end, on the lane real connections will take. Null when the target answered; else why not.
    /// </summary>
    public async Task<string?> ProbeAsync(string target, CancellationToken cancellationToken)
    {
        var (opened, refusal) = await OpenAsync(target, cancellationToken).ConfigureAwait(false);
        if (opened is not { } link)
        {
            return refusal;
        }

        await using (link.ConfigureAwait(false))
        {
            return await link.HangUpAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Opens a tunnel to <paramref name="target"/> and waits until the broker has connected it: the link, or why
    /// there is none. When the broker is gone (unreachable, stopping, draining), the tunnel is asked for through the
    /// broker the route moves to, with the same lease, at most once per broker. When the broker no longer knows the
    /// lease (it restarted, or it keeps no shared state), the tunnel is asked for once more on the new session the
    /// lease keeper opens in its place.
    /// </summary>
    private async Task<(ITunnelLink? Link, string? Refusal)> OpenAsync(string target, CancellationToken cancellationToken)
    {
        var recovered = false;
        var moves = 0;
        while (true)
        {
            var (link, refusal, signedFor, broker) = await OpenOnLaneAsync(target, cancellationToken).ConfigureAwait(false);
            if (link is not null)
            {
                lease.Route.Succeeded(broker);
                return (link, null);
            }

            // Revoked, blocked or no longer permitted: the keeper ends the lease, and no new session is asked for.
            if (lease.Observe(refusal!.Value.Status))
            {
                return (null, refusal.Value.Reason);
            }

            if (!cancellationToken.IsCancellationRequested && BrokerGone.Cause(refusal.Value.Status) is { } cause)
            {
                // The first connection to find it gone moves the route; the others find it moved, and go there too.
                if (lease.Route.Fail(broker, cause, signedFor.LeaseId) && ++moves < lease.Route.Count)
                {
                    continue;
                }

                return (null, refusal.Value.Reason);
            }

            if (recovered || !LeaseKeeper.IsLeaseUnknown(refusal.Value.Status))
            {
                return (null, refusal.Value.Reason);
            }

            recovered = true;
            try
            {
                if (await lease.RecoverAsync(signedFor, ReopenWait, cancellationToken).ConfigureAwait(false) is { } cannot)
                {
                    return (null, cannot);
                }
            }
            catch (OperationCanceledException)
            {
                return (null, WhyCancelled());
            }
        }
    }

    /// <summary>
    /// One try on the lane to use now, at the broker in use now: the raw lane first, unless told otherwise, not
    /// offered by the broker, or lately unreachable there.
    /// </summary>
    private async Task<(ITunnelLink? Link, Refusal? Refusal, Lease SignedFor, BrokerLink Broker)> OpenOnLaneAsync(string target, CancellationToken cancellationToken)
    {
        var broker = lease.Route.Current;
        var useRaw = lane == DataLane.Raw
            || lane == DataLane.Auto && lease.Route.RawLanePort(broker, lease.Current) != 0
                && (Volatile.Read(ref _rawLaneDownAt) != broker.Index || _time.GetTimestamp() >= Volatile.Read(ref _rawLaneDownUntil));
        if (rawLane is not null && useRaw)
        {
            try
            {
                var (link, refusal, signedFor) = await OpenRawAsync(rawLane, broker, target, cancellationToken).ConfigureAwait(false);
                return (link, refusal, signedFor, broker);
            }
            catch (RawLaneUnreachableException ex) when (lane == DataLane.Auto && !cancellationToken.IsCancellationRequested)
            {
                Volatile.Write(ref _rawLaneDownUntil, _time.GetTimestamp() + (long)(RawLaneRetryAfter.TotalSeconds * _time.TimestampFrequency));
                Volatile.Write(ref _rawLaneDownAt, broker.Index);
                Log.RawLaneUnreachable(logger, ex.Message, (int)RawLaneRetryAfter.TotalSeconds);
            }
            catch (RawLaneUnreachableException ex)
            {
                return (null, new Refusal(ex.Message, new Status(StatusCode.Unavailable, ex.Message)), lease.Current, broker);
            }
        }

        var (grpc, grpcRefusal, grpcSignedFor) = await OpenGrpcAsync(broker, target, cancellationToken).ConfigureAwait(false);
        return (grpc, grpcRefusal, grpcSignedFor, broker);
    }

    /// <summary>
    /// An Open on an authenticated raw-lane connection (a warm one when the pool has it). A warm connection the
    /// broker has meanwhile closed is replaced by a fresh one, once.
    /// </summary>
    private async Task<(ITunnelLink? Link, Refusal? Refusal, Lease SignedFor)> OpenRawAsync(RawLanePool pool, BrokerLink broker, string target, CancellationToken cancellationToken)
    {
        var signedFor = lease.Current;
        TunnelSocket connection;
        bool wasWarm;
        try
        {
            (connection, signedFor, wasWarm) = await pool.TakeAsync(broker, cancellationToken).ConfigureAwait(false);
        }
        catch (RpcException ex) when (!cancellationToken.IsCancellationRequested)
        {
            return (null, new Refusal(Describe(ex.Status, null), ex.Status), signedFor);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return (null, new Refusal(WhyCancelled(), Status.DefaultCancelled), signedFor);
        }

        while (true)
        {
            RawLaneMessage reply;
            try
            {
                await RawLaneExchange.SendAsync(connection, new RawLaneOpen(target), cancellationToken).ConfigureAwait(false);
                reply = await RawLaneExchange.ReceiveAsync(connection, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or SocketException or InvalidDataException && !cancellationToken.IsCancellationRequested)
            {
                connection.Abort();
                await connection.DisposeAsync().ConfigureAwait(false);
                if (!wasWarm)
                {
                    var lost = $"the broker closed the raw-lane connection before answering ({RpcErrors.Innermost(ex).Message})";
                    return (null, new Refusal(lost, new Status(StatusCode.Unavailable, lost)), signedFor);
                }

                // The broker closed the warm connection (idle too long, or it restarted): one fresh try.
                wasWarm = false;
                try
                {
                    (connection, signedFor) = await pool.DialAsync(broker, cancellationToken).ConfigureAwait(false);
                }
                catch (RpcException refused) when (!cancellationToken.IsCancellationRequested)
                {
                    return (null, new Refusal(Describe(refused.Status, null), refused.Status), signedFor);
                }

                continue;
            }
            catch (Exception) when (cancellationToken.IsCancellationRequested)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
                return (null, new Refusal(WhyCancelled(), Status.DefaultCancelled), signedFor);
            }

            if (reply is RawLaneReply { IsAccepted: true })
            {
                return (new RawTunnelLink(connection), null, signedFor);
            }

            await connection.DisposeAsync().ConfigureAwait(false);
            var status = reply is RawLaneReply refusal ? new Status(refusal.Status, refusal.Detail) : new Status(StatusCode.Internal, $"the broker answered an Open with a {reply.GetType().Name}");
            return (null, new Refusal(Describe(status, null), status), signedFor);
        }
    }

    /// <summary>
    /// A Tunnel call, once the broker reports the target connected; else why not. The call goes over the channel's
    /// connection with the fewest tunnels, so one busy tunnel does not hold up the others' frames.
    /// </summary>
    private async Task<(ITunnelLink? Link, Refusal? Refusal, Lease SignedFor)> OpenGrpcAsync(BrokerLink broker, string target, CancellationToken cancellationToken)
    {
        var headers = lease.Headers(nameof(Broker.BrokerClient.Tunnel), target, out var signedFor);
        headers.Add(WireLimits.TargetHeader, target);
        var connection = (broker.Channel ?? throw new InvalidOperationException("the route has no channel for tunnels")).ForTunnel();
        var callEnds = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var call = connection.Client.Tunnel(headers, cancellationToken: callEnds.Token);
        var refusal = await AwaitConnectedAsync(call, cancellationToken).ConfigureAwait(false);
        if (refusal is null)
        {
            return (new GrpcTunnelLink(call, callEnds, connection), null, signedFor);
        }

        call.Dispose();
        callEnds.Dispose();
        connection.Dispose();
        return (null, refusal, signedFor);
    }

    /// <summary>
    /// Waits for the broker to report the target connected. Null when it did; else why not. Not a byte is
    /// forwarded before this, so a refused tunnel never looks like a connection that opened and then broke.
    /// </summary>
    private async Task<Refusal?> AwaitConnectedAsync(AsyncDuplexStreamingCall<TunnelFrame, TunnelFrame> call, CancellationToken cancellationToken)
    {
        try
        {
            var headers = await call.ResponseHeadersAsync.ConfigureAwait(false);
            if (headers.GetValue(WireLimits.ConnectedHeader) is not null)
            {
                return null;
            }

            // A trailers-only answer: the refusal's status surfaces on the first read.
            await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false);
            return new Refusal("the broker answered without connecting the target", Status.DefaultSuccess);
        }
        catch (RpcException ex) when (!cancellationToken.IsCancellationRequested)
        {
            return new Refusal(Describe(ex.Status, null), ex.Status);
        }
        catch (Exception ex) when (ex is OperationCanceledException or RpcException)
        {
            return new Refusal(WhyCancelled(), Status.DefaultCancelled);
        }
    }

    private string WhyCancelled() => lease.Ended.IsCancellationRequested ? lease.EndReason : "the agent is stopping";

    /// <summary>
    /// The broker's own words when it sent any. A status with a transport failure behind it was made on this side:
    /// the broker could not be reached, or the connection to it was lost, which says more than gRPC's wording.
    /// </summary>
    internal static string Describe(Status? status, Exception? fallback) => status switch
    {
        { DebugException: { } cause, StatusCode: StatusCode.Unavailable } when cause is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError or HttpRequestError.SecureConnectionError } =>
            $"cannot reach the broker ({RpcErrors.Innermost(cause).Message})",
        { DebugException: { } cause } => $"the connection to the broker was lost ({RpcErrors.Innermost(cause).Message})",
        { } chosen => RpcErrors.Describe(chosen),
        null => fallback?.Message ?? "no reason given",
    };

    /// <summary>Why a tunnel was not opened, and the status that said so (what decides whether to try again).</summary>
    private readonly record struct Refusal(string Reason, Status Status);
}
