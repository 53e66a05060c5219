using GitHubActionsPort.Protocol;
using Grpc.Core;

namespace GitHubActionsPort.Agent.Forwarding.Failover;

/// <summary>
/// Which answers mean "this broker is going away or cannot be reached, try another": the one place that tells them
/// from answers another broker would give just the same (a refused target, a revoked lease, a bad token).
/// </summary>
internal static class BrokerGone
{
    /// <summary>
    /// Why <paramref name="status"/> says its broker is gone, for the log; null when it is an answer in the broker's
    /// own right. Gone: refused or lost connections, a draining broker (<see cref="BrokerDraining"/>), any other
    /// <see cref="StatusCode.Unavailable"/> (stopping, its audit trail or store unreachable), and a call that got no
    /// answer within its deadline.
    /// </summary>
    public static string? Cause(Status status)
    {
        if (BrokerDraining.IsDraining(status))
        {
            return "it is draining";
        }

        return status.StatusCode switch
        {
            StatusCode.Unavailable or StatusCode.DeadlineExceeded => RpcErrors.Describe(status),
            // The HTTP/2 connection dropped under a call: made on this side, with the transport's failure behind it.
            StatusCode.Internal or StatusCode.Unknown when status.DebugException is HttpRequestException or IOException or System.Net.Sockets.SocketException =>
                RpcErrors.Describe(status),
            _ => null,
        };
    }
}
