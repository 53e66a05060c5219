namespace GitHubActionsPort.Broker.Leases;

internal static partial class LeaseStoreLog
{
    [LoggerMessage(31, LogLevel.Warning, "The end of lease {LeaseId} was not recorded in the audit trail: {Reason}", EventName = "LeaseEndNotAudited")]
    public static partial void EndNotAudited(ILogger logger, string leaseId, string reason);

    [LoggerMessage(32, LogLevel.Warning, "Lease {LeaseId} was not granted: the state store could not record it ({Cause})", EventName = "LeaseGrantNotStored")]
    public static partial void GrantNotStored(ILogger logger, string leaseId, string cause);

    [LoggerMessage(33, LogLevel.Warning, "Lease {LeaseId} ended here, but the state store could not record its end ({Cause}); other instances have not heard", EventName = "LeaseEndNotStored")]
    public static partial void EndNotStored(ILogger logger, string leaseId, string cause);

    [LoggerMessage(34, LogLevel.Debug, "Lease {LeaseId}, granted by instance {GrantedBy}, read from the state store", EventName = "LeaseLoaded")]
    public static partial void Loaded(ILogger logger, string leaseId, string grantedBy);
}
