namespace GitHubActionsPort.Broker.Admin;

/// <summary>Log records of the standing blocks' copy in memory.</summary>
internal static partial class SessionBlocksLog
{
    [LoggerMessage(130, LogLevel.Warning, "The standing blocks could not be read from the state store ({Store}): new sessions are refused until they can be ({Reason})", EventName = "BlocksNotLoaded")]
    public static partial void NotLoaded(ILogger logger, string store, string reason);

    // Debug: it follows every block placed or lifted at any instance; tests wait on it to know a change was heard.
    [LoggerMessage(132, LogLevel.Debug, "Standing blocks read from the state store: {Count} standing", EventName = "BlocksLoaded")]
    public static partial void Loaded(ILogger logger, int count);
}
