namespace GitHubActionsPort.Agent.Forwarding;

internal sealed partial class TunnelClient
{
    private static partial class Log
    {
        [LoggerMessage(10, LogLevel.Information, "Connection {ConnectionId} from {Peer} to {Target}: tunnel open ({Lane} lane)", EventName = "TunnelOpened")]
        public static partial void TunnelOpened(ILogger logger, long connectionId, string peer, string target, string lane);

        [LoggerMessage(15, LogLevel.Warning, "The raw lane cannot be reached ({Reason}); tunnels take the gRPC lane for the next {Seconds} s", EventName = "RawLaneUnreachable")]
        public static partial void RawLaneUnreachable(ILogger logger, string reason, int seconds);

        [LoggerMessage(11, LogLevel.Information, "Connection {ConnectionId} to {Target} closed: {BytesSent} bytes sent, {BytesReceived} received, {DurationMs:0} ms", EventName = "TunnelClosed")]
        public static partial void TunnelClosed(ILogger logger, long connectionId, string target, long bytesSent, long bytesReceived, double durationMs);

        [LoggerMessage(12, LogLevel.Warning, "Connection {ConnectionId} to {Target} reset: {Reason} ({BytesSent} bytes sent, {BytesReceived} received, {DurationMs:0} ms)", EventName = "TunnelFailed")]
        public static partial void TunnelFailed(ILogger logger, long connectionId, string target, string reason, long bytesSent, long bytesReceived, double durationMs);

        [LoggerMessage(13, LogLevel.Warning, "Connection {ConnectionId} to {Target} closed: {Reason}", EventName = "TunnelRefused")]
        public static partial void TunnelRefused(ILogger logger, long connectionId, string target, string reason);

        [LoggerMessage(14, LogLevel.Error, "Connection {ConnectionId} to {Target} failed unexpectedly and was closed", EventName = "TunnelCrashed")]
        public static partial void TunnelCrashed(ILogger logger, long connectionId, string target, Exception exception);
    }
}
