using GitHubActionsPort.Protocol;
using GitHubActionsPort.Protocol.Tunnels;
using GitHubActionsPort.Protocol.V1;
using Grpc.Core;

namespace GitHubActionsPort.Broker.Services;

internal sealed partial class BrokerService
{
    /// <summary>The lane's name in the audit trail.</summary>
    private const string GrpcLane = "grpc";

    public override async Task Tunnel(IAsyncStreamReader<TunnelFrame> requestStream, IServerStreamWriter<TunnelFrame> responseStream, ServerCallContext context)
    {
        if (!lanes.GrpcEnabled)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, "this broker carries tunnels on its raw lane only (Broker:Lanes:Grpc:Enabled is false); run the agent with --lane raw or auto"));
        }

        // Before the lease is checked, which costs a signature and a proof: a draining broker only says where to go.
        // The gate checks again, exactly, for a tunnel that got past this as the drain began.
        RefuseIfDraining(BrokerDraining.TunnelDetail);
        var targetName = context.RequestHeaders.GetValue(WireLimits.TargetHeader) ?? string.Empty;
        var lease = await AuthenticateLeaseAsync(context, nameof(Tunnel), targetName).ConfigureAwait(false);
        await using var tunnel = await gate.OpenAsync(lease, targetName, context.Peer, GrpcLane, context.CancellationToken).ConfigureAwait(false);

        SpliceResult result;
        try
        {
            // The header tells the agent the target is connected; only then does it forward bytes.
            await context.WriteResponseHeadersAsync([new Metadata.Entry(WireLimits.ConnectedHeader, "1")]).ConfigureAwait(false);
            result = await TunnelSplice.RunAsync(tunnel.Target, requestStream, responseStream, null, tunnel.Ends.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or InvalidOperationException)
        {
            // The agent went before it heard: the tunnel recorded as opened is recorded as closed too.
            result = new SpliceResult(tunnel.Ends.IsCancellationRequested ? TunnelEnd.Canceled : TunnelEnd.StreamFailed, ex, 0, 0);
        }

        // Any end but a clean one is a reset for the target (the gate's) and an error status for the agent (here).
        var failure = gate.Outcome(tunnel, result);
        await gate.ClosedAsync(tunnel, result, failure).ConfigureAwait(false);
        if (failure is { } status)
        {
            throw Refusal(status);
        }
    }
}
