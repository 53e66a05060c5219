using System.Net.Sockets;
using Lease = GitHubActionsPort.Broker.Leases.Lease;
using GitHubActionsPort.Broker.Auth;
using GitHubActionsPort.Broker.Audit;
using GitHubActionsPort.Broker.Telemetry;
using GitHubActionsPort.Broker.Tunnels;
using GitHubActionsPort.Protocol;
using GitHubActionsPort.Protocol.Tunnels;
using GitHubActionsPort.Protocol.V1;
using Grpc.Core;

namespace GitHubActionsPort.Broker.Services;

internal sealed partial class BrokerService
{
    public override async Task Tunnel(IAsyncStreamReader<TunnelFrame> requestStream, IServerStreamWriter<TunnelFrame> responseStream, ServerCallContext context)
    {
        // Only a name the lease covers, mapped by the broker's own configuration: never an address from the caller.
        var targetName = context.RequestHeaders.GetValue(WireLimits.TargetHeader) ?? string.Empty;
        var lease = await AuthenticateLeaseAsync(context, nameof(Tunnel), targetName).ConfigureAwait(false);
        if (!lease.Targets.Contains(targetName) || !policy.TryGetTarget(targetName, out var address))
        {
            Log.TunnelDenied(logger, lease.Id, AuditText.Clean(targetName));
            throw new RpcException(new Status(StatusCode.PermissionDenied, $"lease {lease.Id} does not cover target '{Truncate(targetName)}'"));
        }

        if (!lease.TryOpenTunnel())
        {
            Log.TunnelLimitReached(logger, lease.Id, targetName, lease.MaxConnections);
            throw new RpcException(new Status(StatusCode.ResourceExhausted, $"lease {lease.Id} allows at most {lease.MaxConnections} open connections"));
        }

        try
        {
            if (!admission.TryEnter())
            {
                Log.BrokerTunnelLimitReached(logger, lease.Id, targetName, settings.Transport.MaxTunnels);
                throw new RpcException(new Status(StatusCode.ResourceExhausted, "the broker is at its limit of open tunnels; try again shortly"));
            }

            try
            {
                await RunTunnelAsync(lease, targetName, address, requestStream, responseStream, context).ConfigureAwait(false);
            }
            finally
            {
                admission.Exit();
            }
        }
        finally
        {
            lease.CloseTunnel();
        }
    }

    private async Task RunTunnelAsync(
        Lease lease,
        string targetName,
        Configuration.TargetAddress address,
        IAsyncStreamReader<TunnelFrame> requestStream,
        IServerStreamWriter<TunnelFrame> responseStream,
        ServerCallContext context)
    {
        var tunnelId = $"{lease.Id}/{lease.NextTunnelNumber()}";
        var started = time.GetTimestamp();
        using var tunnelEnds = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, lease.Ended, lifetime.ApplicationStopping);

        // Recorded before the target is dialled: a tunnel the audit trail cannot hold is not opened (fail closed).
        try
        {
            await audit.TunnelOpeningAsync(lease, tunnelId, targetName, context.Peer).ConfigureAwait(false);
        }
        catch (AuditWriteException ex)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, "the broker cannot record tunnels in its audit trail right now; refused"), ex.Message);
        }

        SpliceResult result;
        try
        {
            result = await DialAndSpliceAsync(lease, tunnelId, targetName, address, started, tunnelEnds, requestStream, responseStream, context).ConfigureAwait(false);
        }
        catch (RpcException ex)
        {
            await AuditBestEffortAsync(audit.TunnelClosedAsync(tunnelId, targetName, null, time.GetElapsedTime(started), ex.Status.Detail)).ConfigureAwait(false);
            throw;
        }

        var failure = result.End switch
        {
            TunnelEnd.Completed => null,
            TunnelEnd.SocketFailed => new RpcException(new Status(StatusCode.Aborted, $"target '{targetName}' reset the connection")),
            TunnelEnd.StreamFailed when result.Error is InvalidDataException protocolError => new RpcException(new Status(StatusCode.InvalidArgument, protocolError.Message)),
            // A frame over WireLimits.MaxMessageSize: gRPC refused it from its length prefix, and its status says so.
            TunnelEnd.StreamFailed when result.Error is RpcException { StatusCode: StatusCode.ResourceExhausted } tooLarge => new RpcException(tooLarge.Status),
            TunnelEnd.StreamFailed => new RpcException(new Status(StatusCode.Cancelled, "the agent's side of the tunnel failed")),
            _ => WhyCanceled(lease) ?? new RpcException(new Status(StatusCode.Cancelled, "the tunnel was cancelled")),
        };
        BrokerMetrics.TunnelEnded(time.GetElapsedTime(started));
        await AuditBestEffortAsync(audit.TunnelClosedAsync(tunnelId, targetName, result, time.GetElapsedTime(started), failure?.Status.Detail ?? "completed")).ConfigureAwait(false);
        if (failure is not null)
        {
            throw failure;
        }
    }

    /// <summary>Dials the target and splices until the tunnel ends; a target that cannot be dialled is an error status.</summary>
    private async Task<SpliceResult> DialAndSpliceAsync(
        Lease lease,
        string tunnelId,
        string targetName,
        Configuration.TargetAddress address,
        long started,
        CancellationTokenSource tunnelEnds,
        IAsyncStreamReader<TunnelFrame> requestStream,
        IServerStreamWriter<TunnelFrame> responseStream,
        ServerCallContext context)
    {
        Socket socket;
        var dialStarted = time.GetTimestamp();
        try
        {
            socket = await dialer.ConnectAsync(address, tunnelEnds.Token).ConfigureAwait(false);
            BrokerMetrics.Dialled(time.GetElapsedTime(dialStarted), connected: true);
        }
        catch (TargetUnreachableException ex)
        {
            BrokerMetrics.Dialled(time.GetElapsedTime(dialStarted), connected: false);
            Log.TargetUnreachable(logger, tunnelId, targetName, address.ToString(), ex.Message);
            // A target the broker refuses on principle (a forbidden address) is not worth retrying; one that is down is.
            throw new RpcException(new Status(ex.Refused ? StatusCode.PermissionDenied : StatusCode.Unavailable, $"target '{targetName}' {ex.Message}"));
        }
        catch (OperationCanceledException) when (tunnelEnds.IsCancellationRequested)
        {
            throw WhyCanceled(lease) ?? new RpcException(new Status(StatusCode.Cancelled, "the tunnel was cancelled while its target was being connected"));
        }

        TunnelSocket target;
        try
        {
            target = new TunnelSocket(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        await using (target.ConfigureAwait(false))
        {
            Log.TunnelOpened(logger, tunnelId, targetName, context.Peer);

            // The header tells the agent the target is connected; only then does it forward bytes.
            await context.WriteResponseHeadersAsync([new Metadata.Entry(WireLimits.ConnectedHeader, "1")]).ConfigureAwait(false);
            var result = await TunnelSplice.RunAsync(target, requestStream, responseStream, null, tunnelEnds.Token).ConfigureAwait(false);
            Log.TunnelClosed(logger, tunnelId, targetName, result.End, result.BytesToSocket, result.BytesFromSocket, time.GetElapsedTime(started).TotalMilliseconds);

            // Any end but a clean one is a reset for the target (and an error status for the agent, from the caller).
            if (result.End != TunnelEnd.Completed)
            {
                target.Abort();
            }

            return result;
        }
    }

    /// <summary>
    /// The status for a tunnel ended from the broker's side, or null when the agent itself went away. The broker's own
    /// reasons are asked first: cancelling a response write that is waiting on flow control (a client that stopped
    /// reading) aborts the request, so the call's own token is cancelled then too, and says nothing about who began it.
    /// </summary>
    private RpcException? WhyCanceled(Lease lease) =>
        lease.IsEnded ? new RpcException(new Status(StatusCode.Aborted, lease.EndReason is { } reason ? $"lease {lease.Id} ended: {reason}" : $"lease {lease.Id} expired at {lease.ExpiresAt:u}; open a new session"))
        : lifetime.ApplicationStopping.IsCancellationRequested ? new RpcException(new Status(StatusCode.Unavailable, "the broker is stopping"))
        : null;

    private static string Truncate(string text) => text.Length <= 64 ? text : text[..64] + "...";
}
