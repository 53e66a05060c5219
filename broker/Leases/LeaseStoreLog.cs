namespace GitHubActionsPort.Broker.Leases;

internal static partial class LeaseStoreLog
{
    [LoggerMessage(31, LogLevel.Warning, "The end of lease {LeaseId} was not recorded in the audit trail: {Reason}", EventName = "LeaseEndNotAudited")]
    public static partial void EndNotAudited(ILogger logger, string leaseId, string reason);
}
