namespace GitHubActionsPort.Broker.Store;

/// <summary>What the durable stores log; never a connection string or a password.</summary>
internal static partial class StoreLog
{
    [LoggerMessage(300, LogLevel.Information, "Listening for store changes on {Store}", EventName = "StoreListening")]
    public static partial void Listening(ILogger logger, string store);

    [LoggerMessage(301, LogLevel.Warning, "Lost the connection that listens for store changes on {Store}: {Cause}; reconnecting (changes are read by polling meanwhile)", EventName = "StoreListenLost")]
    public static partial void ListenLost(ILogger logger, string store, string cause);

    [LoggerMessage(302, LogLevel.Debug, "Still cannot listen for store changes on {Store}: {Cause}; next try in {Delay}", EventName = "StoreListenRetry")]
    public static partial void ListenRetry(ILogger logger, string store, string cause, TimeSpan delay);

    [LoggerMessage(303, LogLevel.Information, "Listening for store changes on {Store} again", EventName = "StoreListenBack")]
    public static partial void ListenBack(ILogger logger, string store);

    [LoggerMessage(304, LogLevel.Error, "A handler of store change notifications failed", EventName = "StoreChangeHandlerFailed")]
    public static partial void HandlerFailed(ILogger logger, Exception exception);
}
