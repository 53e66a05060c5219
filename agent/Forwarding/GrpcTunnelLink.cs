using GitHubActionsPort.Protocol.Tunnels;
using GitHubActionsPort.Protocol.V1;
using Grpc.Core;

namespace GitHubActionsPort.Agent.Forwarding;

/// <summary>
/// A tunnel on a Tunnel call, over one of the channel's connections (<paramref name="connection"/>, given back when
/// the tunnel ends). Resetting it cancels the call, which sends RST_STREAM.
/// </summary>
internal sealed class GrpcTunnelLink(AsyncDuplexStreamingCall<TunnelFrame, TunnelFrame> call, CancellationTokenSource callEnds, TunnelConnection connection) : ITunnelLink
{
    public string Lane => "grpc";

    public Task<SpliceResult> SpliceAsync(TunnelSocket local, CancellationToken cancellationToken) =>
        TunnelSplice.RunAsync(local, call.ResponseStream, call.RequestStream, () => call.RequestStream.CompleteAsync(), cancellationToken);

    public string WhyBrokerFailed(SpliceResult result) =>
        TunnelClient.Describe(StatusOf(call) ?? (result.Error as RpcException)?.Status, result.Error);

    public void Reset() => callEnds.Cancel();

    public async Task<string?> HangUpAsync(CancellationToken cancellationToken)
    {
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
            return TunnelClient.Describe(ex.Status, null);
        }
    }

    public ValueTask DisposeAsync()
    {
        call.Dispose();
        callEnds.Dispose();
        connection.Dispose();
        return ValueTask.CompletedTask;
    }

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
}
