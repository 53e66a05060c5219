using GitHubActionsPort.Protocol;
using GitHubActionsPort.Protocol.Tunnels;
using GitHubActionsPort.Protocol.V1;
using Grpc.Core;

namespace GitHubActionsPort.Broker.Services;

internal sealed partial class BrokerService
{
    private static long s_tunnelCount;

    public override async Task Tunnel(IAsyncStreamReader<TunnelFrame> requestStream, IServerStreamWriter<TunnelFrame> responseStream, ServerCallContext context)
    {
        var lease = leases.Find(ReadLeaseToken(context.RequestHeaders))
            ?? throw new RpcException(new Status(StatusCode.Unauthenticated, "the lease is unknown or has ended; open a new session"));

        // Only a name the lease covers, mapped by the broker's own configuration: never an address from the caller.
        var targetName = context.RequestHeaders.GetValue(WireLimits.TargetHeader) ?? string.Empty;
        if (!lease.Targets.Contains(targetName) || !settings.Targets.TryGetValue(targetName, out var address))
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied, $"lease {lease.Id} does not cover target '{Truncate(targetName)}'"));
        }

        if (!lease.TryOpenTunnel())
        {
            Log.TunnelLimitReached(logger, lease.Id, targetName, lease.MaxConnections);
            throw new RpcException(new Status(StatusCode.ResourceExhausted, $"lease {lease.Id} allows at most {lease.MaxConnections} open connections"));
        }

        var tunnelId = $"{lease.Id}/{Interlocked.Increment(ref s_tunnelCount)}";
        var started = TimeProvider.System.GetTimestamp();
        try
        {
            using var tunnelEnds = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, lease.Ended);
            System.Net.Sockets.Socket socket;
            try
            {
                socket = await dialer.ConnectAsync(address, tunnelEnds.Token).ConfigureAwait(false);
            }
            catch (Tunnels.TargetUnreachableException ex)
            {
                Log.TargetUnreachable(logger, tunnelId, targetName, address.ToString(), ex.Message);
                throw new RpcException(new Status(StatusCode.Unavailable, $"target '{targetName}' {ex.Message}"));
            }

            await using var target = new TunnelSocket(socket);
            Log.TunnelOpened(logger, tunnelId, targetName, context.Peer);

            // Response headers tell the agent the target is connected; only then does it forward bytes.
            await context.WriteResponseHeadersAsync([new Metadata.Entry(WireLimits.ConnectedHeader, "1")]).ConfigureAwait(false);
            var result = await TunnelSplice.RunAsync(target, requestStream, responseStream, null, tunnelEnds.Token).ConfigureAwait(false);
            var elapsed = TimeProvider.System.GetElapsedTime(started);
            Log.TunnelClosed(logger, tunnelId, targetName, result.End, result.BytesToSocket, result.BytesFromSocket, elapsed.TotalMilliseconds);

            switch (result.End)
            {
                case TunnelEnd.Completed:
                    return;
                case TunnelEnd.SocketFailed:
                    target.Abort();
                    throw new RpcException(new Status(StatusCode.Aborted, $"target '{targetName}' reset the connection"));
                case TunnelEnd.StreamFailed:
                    // The agent's side went away or reset: pass the reset on to the target.
                    target.Abort();
                    if (result.Error is InvalidDataException protocolError)
                    {
                        throw new RpcException(new Status(StatusCode.InvalidArgument, protocolError.Message));
                    }

                    return;
                case TunnelEnd.Canceled:
                default:
                    target.Abort();
                    if (lease.IsEnded && !context.CancellationToken.IsCancellationRequested)
                    {
                        throw new RpcException(new Status(StatusCode.Aborted, $"lease {lease.Id} ended at {lease.ExpiresAt:u}"));
                    }

                    return;
            }
        }
        finally
        {
            lease.CloseTunnel();
        }
    }

    private static string? ReadLeaseToken(Metadata headers)
    {
        var value = headers.GetValue("authorization");
        var prefix = WireLimits.LeaseScheme + " ";
        return value is not null && value.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) ? value[prefix.Length..].Trim() : null;
    }

    private static string Truncate(string text) => text.Length <= 64 ? text : text[..64] + "...";
}
