namespace GitHubActionsPort.Broker.Leases;

internal static partial class LeaseKeyLog
{
    [LoggerMessage(30, LogLevel.Warning, "Created a new lease signing key at {Path}; keep it private and back it up with the broker's configuration", EventName = "LeaseKeyCreated")]
    public static partial void Created(ILogger logger, string path);
}
