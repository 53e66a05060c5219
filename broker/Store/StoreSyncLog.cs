namespace GitHubActionsPort.Broker.Store;

internal static partial class StoreSyncLog
{
    [LoggerMessage(210, LogLevel.Information, "State store: {Kind}, {Where}; this instance is {InstanceId}", EventName = "StoreOpened")]
    public static partial void Opened(ILogger logger, string kind, string where, string instanceId);

    [LoggerMessage(211, LogLevel.Warning, "The memory store keeps nothing: leases, blocks and replay records are lost at restart; use sqlite or postgres", EventName = "StoreKeepsNothing")]
    public static partial void MemoryKeepsNothing(ILogger logger);

    [LoggerMessage(212, LogLevel.Information, "Reloaded what {Listeners} parts of the broker keep from the state store, after it was unreachable", EventName = "StoreReloaded")]
    public static partial void Reloaded(ILogger logger, int listeners);

    [LoggerMessage(213, LogLevel.Warning, "Instance {InstanceId} is lost (last heartbeat {HeartbeatAt:u}); its {Tunnels} tunnels are recorded as ended", EventName = "InstanceLost")]
    public static partial void InstanceLost(ILogger logger, string instanceId, DateTimeOffset heartbeatAt, int tunnels);

    [LoggerMessage(214, LogLevel.Warning, "Tunnel {TunnelId} to {Target} closed: instance {InstanceId} lost", EventName = "TunnelLost")]
    public static partial void TunnelLost(ILogger logger, string tunnelId, string target, string instanceId);

    [LoggerMessage(215, LogLevel.Warning, "The end of tunnel {TunnelId} of a lost instance was not recorded in the audit trail: {Reason}", EventName = "TunnelLostNotAudited")]
    public static partial void LostNotAudited(ILogger logger, string tunnelId, string reason);

    [LoggerMessage(216, LogLevel.Error, "Keeping up with the state store failed unexpectedly; trying again", EventName = "StoreSyncFailed")]
    public static partial void Failed(ILogger logger, Exception exception);
}
