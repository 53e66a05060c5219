using System.Diagnostics;
using System.Net.Sockets;
using GitHubActionsPort.Agent.Cli;
using GitHubActionsPort.Protocol;
using GitHubActionsPort.Protocol.Tunnels;
using GitHubActionsPort.Protocol.V1;
using Grpc.Core;

namespace GitHubActionsPort.Agent.Forwarding;

/// <summary>
/// Carries one accepted local connection through one Tunnel call. A clean end on both sides closes the local
/// socket cleanly; any failure resets it, so the local client sees an error, never a silently short stream.
/// </summary>
internal sealed partial class TunnelClient(Broker.BrokerClient client, LeaseKeeper lease, ForwardStats stats, ILogger logger)
{
    /// <summary>
    /// How long a new connection waits for a new session when the broker has lost the lease (it restarted): about
    /// one full backoff of the reopen, so the first connection after a restart goes through instead of failing.
    /// </summary>
    private static readonly TimeSpan ReopenWait = TimeSpan.FromSeconds(10);

    private long _lastId;

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
            accepted.Dispose();
            Log.TunnelCrashed(logger, id, forward.Target, ex);
        }
    }

    private async Task TunnelAsync(long id, Socket accepted, ForwardSpec forward, CancellationToken stopping)
    {
        var peer = accepted.RemoteEndPoint?.ToString() ?? "?";
        var started = Stopwatch.GetTimestamp();
        await using var local = new TunnelSocket(accepted);
        using var callEnds = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        var (opened, refusal) = await OpenAsync(forward.Target, callEnds.Token).ConfigureAwait(false);
        using var call = opened;
        if (call is null)
        {
            local.Abort();
            if (!stopping.IsCancellationRequested)
            {
                stats.Refused(forward.Target);
                Log.TunnelRefused(logger, id, forward.Target, refusal!);
            }

            return;
        }

        Log.TunnelOpened(logger, id, peer, forward.Target);
        stats.Opened(forward.Target);
        var result = await TunnelSplice.RunAsync(local, call.ResponseStream, call.RequestStream, () => call.RequestStream.CompleteAsync(), callEnds.Token).ConfigureAwait(false);
        var reason = result.End switch
        {
            TunnelEnd.Completed => null,
            TunnelEnd.SocketFailed => "the local client reset the connection",
            TunnelEnd.StreamFailed => "the broker ended the tunnel: " + Describe(StatusOf(call) ?? (result.Error as RpcException)?.Status, result.Error),
            _ when lease.Ended.IsCancellationRequested => $"lease {lease.Current.LeaseId} expired",
            _ => "the agent is stopping",
        };

        if (reason is not null)
        {
            // Reset the far side (cancelling the call sends RST_STREAM) and the near side alike.
            await callEnds.CancelAsync().ConfigureAwait(false);
            local.Abort();
        }

        var elapsed = Stopwatch.GetElapsedTime(started);
        stats.Closed(forward.Target, result.BytesFromSocket, result.BytesToSocket, elapsed, failed: reason is not null);
        if (reason is null)
        {
            Log.TunnelClosed(logger, id, forward.Target, result.BytesFromSocket, result.BytesToSocket, elapsed.TotalMilliseconds);
        }
        else
        {
            Log.TunnelFailed(logger, id, forward.Target, reason, result.BytesFromSocket, result.BytesToSocket, elapsed.TotalMilliseconds);
        }
    }

    /// <summary>
    /// Dials <paramref name="target"/> through the broker and hangs up cleanly, without a local client: readiness
    /// proven end to end. Null when the target answered; else why not.
    /// </summary>
    public async Task<string?> ProbeAsync(string target, CancellationToken cancellationToken)
    {
        var (opened, refusal) = await OpenAsync(target, cancellationToken).ConfigureAwait(false);
        using var call = opened;
        if (call is null)
        {
            return refusal;
        }

        try
        {
            // Nothing to say: end our side at once and wait for the broker to pass the end on and finish.
            await call.RequestStream.WriteAsync(new TunnelFrame { End = new EndOfStream() }, cancellationToken).ConfigureAwait(false);
            await call.RequestStream.CompleteAsync().ConfigureAwait(false);
            while (await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
            {
                // A target that greets (a database banner) sends data; the probe has no use for it.
            }

            return null;
        }
        catch (RpcException ex)
        {
            return Describe(ex.Status, null);
        }
    }

    /// <summary>
    /// Starts a Tunnel call to <paramref name="target"/> and waits until the broker has connected it: the call, or
    /// why there is none. When the broker no longer knows the lease (it restarted), the call is made once more on
    /// the new session the lease keeper opens in its place.
    /// </summary>
    private async Task<(AsyncDuplexStreamingCall<TunnelFrame, TunnelFrame>? Call, string? Refusal)> OpenAsync(string target, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            var headers = lease.Headers(nameof(Broker.BrokerClient.Tunnel), target, out var signedFor);
            headers.Add(WireLimits.TargetHeader, target);
            var call = client.Tunnel(headers, cancellationToken: cancellationToken);
            var refusal = await AwaitConnectedAsync(call, cancellationToken).ConfigureAwait(false);
            if (refusal is null)
            {
                return (call, null);
            }

            call.Dispose();
            if (attempt > 1 || !LeaseKeeper.IsLeaseUnknown(refusal.Value.Status))
            {
                return (null, refusal.Value.Reason);
            }

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

    private string WhyCancelled() => lease.Ended.IsCancellationRequested ? $"lease {lease.Current.LeaseId} expired" : "the agent is stopping";

    private static Status? StatusOf(AsyncDuplexStreamingCall<TunnelFrame, TunnelFrame> call)
    {
        try
        {
            return call.GetStatus();
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>
    /// The broker's own words when it sent any. A status with a transport failure behind it was made on this side:
    /// the broker could not be reached, or the connection to it was lost, which says more than gRPC's wording.
    /// </summary>
    private static string Describe(Status? status, Exception? fallback) => status switch
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
