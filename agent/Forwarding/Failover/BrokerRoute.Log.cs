namespace GitHubActionsPort.Agent.Forwarding.Failover;

internal sealed partial class BrokerRoute
{
    private static partial class Log
    {
        [LoggerMessage(70, LogLevel.Warning, "Broker {Broker} unreachable ({Cause}); using broker {Next} for lease {LeaseId}", EventName = "BrokerSwitched")]
        public static partial void Switched(ILogger logger, string broker, string cause, string next, string leaseId);

        [LoggerMessage(71, LogLevel.Warning, "Every broker ({Count}) is unreachable; the last, {Broker}, failed ({Cause}); trying each again in turn", EventName = "BrokersAllDown")]
        public static partial void AllDown(ILogger logger, int count, string broker, string cause);

        [LoggerMessage(72, LogLevel.Information, "The broker host names resolved again: {Added} new address(es), {Count} broker(s) in all", EventName = "BrokersResolved")]
        public static partial void Resolved(ILogger logger, int added, int count);

        [LoggerMessage(73, LogLevel.Debug, "Resolving the broker host names again failed: {Reason}", EventName = "BrokersResolveFailed")]
        public static partial void ResolveFailed(ILogger logger, string reason);
    }
}
