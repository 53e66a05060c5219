namespace GitHubActionsPort.Broker.Connections;

internal static partial class ConnectionGuardLog
{
    [LoggerMessage(90, LogLevel.Debug, "{Listener}: closed an unproven connection from {Source}: {Reason}", EventName = "ConnectionEvicted")]
    public static partial void Evicted(ILogger logger, string listener, string source, string reason);

    [LoggerMessage(91, LogLevel.Debug, "{Listener}: closed a connection from {Source} that did not prove itself within {Timeout}", EventName = "ConnectionProveTimedOut")]
    public static partial void ProveTimedOut(ILogger logger, string listener, string source, TimeSpan timeout);

    [LoggerMessage(92, LogLevel.Debug, "{Listener}: refused a connection from {Source}: {Reason}", EventName = "ConnectionRefused")]
    public static partial void Refused(ILogger logger, string listener, string source, string reason);

    [LoggerMessage(93, LogLevel.Warning, "{Listener}: shedding unproven connections ({Reason}); the ghaport.connections.shed metric counts them", EventName = "ConnectionsShedding")]
    public static partial void Shedding(ILogger logger, string listener, string reason);
}
