namespace GitHubActionsPort.Broker.Store;

internal static partial class StoreHealthLog
{
    [LoggerMessage(200, LogLevel.Warning, "The state store is unreachable ({Cause}): new sessions, renewals and tunnels are refused; open tunnels keep running for up to {MaxStalenessSeconds:0} s (Broker:Store:MaxStaleness)", EventName = "StoreUnreachable")]
    public static partial void Unreachable(ILogger logger, string cause, double maxStalenessSeconds);

    [LoggerMessage(201, LogLevel.Information, "The state store is reachable again after {DownSeconds:0.#} s", EventName = "StoreReachable")]
    public static partial void Reachable(ILogger logger, double downSeconds);

    [LoggerMessage(202, LogLevel.Error, "The state store has not answered for {MaxStalenessSeconds:0} s (Broker:Store:MaxStaleness): this instance can no longer hear revocations, so it ends its open tunnels and refuses new ones until the store is back", EventName = "StoreStale")]
    public static partial void Stale(ILogger logger, double maxStalenessSeconds);
}
