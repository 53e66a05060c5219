using System.Net.Sockets;
using GitHubActionsPort.Protocol.Tunnels;

namespace GitHubActionsPort.Agent.Forwarding.RawLane;

/// <summary>A tunnel on its own raw-lane connection: socket to socket, a half-close for an end, a reset for a reset.</summary>
internal sealed class RawTunnelLink(TunnelSocket connection) : ITunnelLink
{
    public string Lane => "raw";

    public Task<SpliceResult> SpliceAsync(TunnelSocket local, CancellationToken cancellationToken) =>
        TunnelSplice.RunAsync(local, connection, cancellationToken);

    // The raw lane has no words after the Open: the broker resets a tunnel whether the target reset it or the broker
    // ended it (lease revoked, broker stopping); its log and audit trail say which.
    public string WhyBrokerFailed(SpliceResult result) =>
        "the broker reset the connection (the target reset it, or the broker ended the tunnel: the broker's audit trail says which)"
        + (result.Error is { } error ? $" [{RpcErrors.Innermost(error).Message}]" : string.Empty);

    public void Reset() => connection.Abort();

    public async Task<string?> HangUpAsync(CancellationToken cancellationToken)
    {
        try
        {
            await connection.ShutdownSendAsync().ConfigureAwait(false);
            while (true)
            {
                // A target that greets (a database banner) sends data; the probe has no use for it.
                var read = await connection.Input.ReadAsync(cancellationToken).ConfigureAwait(false);
                connection.Input.AdvanceTo(read.Buffer.End);
                if (read.IsCompleted)
                {
                    return null;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
        {
            return "the broker reset the probe: " + RpcErrors.Innermost(ex).Message;
        }
    }

    public ValueTask DisposeAsync() => connection.DisposeAsync();
}
