namespace GitHubActionsPort.Agent.Forwarding;

internal sealed partial class LeaseKeeper
{
    private static partial class Log
    {
        [LoggerMessage(40, LogLevel.Information, "Lease {LeaseId} renewed until {ExpiresAt:u}", EventName = "LeaseRenewed")]
        public static partial void Renewed(ILogger logger, string leaseId, DateTimeOffset expiresAt);

        [LoggerMessage(41, LogLevel.Warning, "Lease {LeaseId} was not renewed: {Reason}; its connections end at {ExpiresAt:u}", EventName = "LeaseRenewalRefused")]
        public static partial void RenewalRefused(ILogger logger, string leaseId, string reason, DateTimeOffset expiresAt);

        [LoggerMessage(42, LogLevel.Warning, "Renewing lease {LeaseId} failed ({Reason}); retrying in {DelaySeconds:0.#} s", EventName = "LeaseRenewalRetry")]
        public static partial void RenewalRetry(ILogger logger, string leaseId, string reason, double delaySeconds);

        [LoggerMessage(43, LogLevel.Warning, "The id-token came from a file or variable, so lease {LeaseId} cannot be renewed; it ends at {ExpiresAt:u}", EventName = "LeaseCannotRenew")]
        public static partial void CannotRenew(ILogger logger, string leaseId, DateTimeOffset expiresAt);

        [LoggerMessage(46, LogLevel.Warning, "Lease {LeaseId} has reached its maximum life and ends at {ExpiresAt:u}; after that, open a new session", EventName = "LeaseAtMaximumLife")]
        public static partial void AtMaximumLife(ILogger logger, string leaseId, DateTimeOffset expiresAt);

        [LoggerMessage(44, LogLevel.Information, "Lease {LeaseId} closed at the broker", EventName = "LeaseClosed")]
        public static partial void Closed(ILogger logger, string leaseId);

        [LoggerMessage(45, LogLevel.Warning, "Closing lease {LeaseId} at the broker failed ({Reason}); it lapses at expiry", EventName = "LeaseCloseFailed")]
        public static partial void CloseFailed(ILogger logger, string leaseId, string reason);

        [LoggerMessage(47, LogLevel.Warning, "Lease {LeaseId} is no longer known to the broker (it restarted, or the lease was ended there); opening a new session", EventName = "LeaseLost")]
        public static partial void LeaseLost(ILogger logger, string leaseId);

        [LoggerMessage(48, LogLevel.Information, "Session reopened: lease {LeaseId} until {ExpiresAt:u} replaces lease {LostLeaseId}", EventName = "SessionReopened")]
        public static partial void SessionReopened(ILogger logger, string leaseId, DateTimeOffset expiresAt, string lostLeaseId);

        [LoggerMessage(49, LogLevel.Warning, "Opening a new session in place of lease {LeaseId} failed ({Reason}); retrying in {DelaySeconds:0.#} s", EventName = "SessionReopenRetry")]
        public static partial void ReopenRetry(ILogger logger, string leaseId, string reason, double delaySeconds);

        [LoggerMessage(50, LogLevel.Error, "No new session can replace lease {LeaseId}: {Reason}; new connections are refused", EventName = "SessionReopenRefused")]
        public static partial void ReopenRefused(ILogger logger, string leaseId, string reason);

        [LoggerMessage(51, LogLevel.Error, "Lease {LeaseId} is no longer known to the broker, and the id-token came from a file or variable, so no new session can be opened; new connections are refused until ghaport is started again with a fresh id-token", EventName = "SessionCannotReopen")]
        public static partial void CannotReopen(ILogger logger, string leaseId);

        [LoggerMessage(53, LogLevel.Error, "Lease {LeaseId} was ended for good by the broker ({Kind}): {Reason}; no new session is opened, and the forwards stop", EventName = "LeaseEndedForGood")]
        public static partial void EndedForGood(ILogger logger, string leaseId, string kind, string reason);

        [LoggerMessage(54, LogLevel.Information, "The broker {Broker} cannot tell the agent at once when lease {LeaseId} is revoked (it has no WatchSession); the agent learns it on the next call", EventName = "LeaseWatchUnsupported")]
        public static partial void WatchUnsupported(ILogger logger, string broker, string leaseId);

        [LoggerMessage(55, LogLevel.Debug, "Watching lease {LeaseId} failed ({Reason}); watching again in {DelaySeconds:0.#} s", EventName = "LeaseWatchRetry")]
        public static partial void WatchRetry(ILogger logger, string leaseId, string reason, double delaySeconds);

        [LoggerMessage(52, LogLevel.Information, "Lease {LeaseId} had already ended at the broker", EventName = "LeaseAlreadyEnded")]
        public static partial void AlreadyEnded(ILogger logger, string leaseId);
    }
}
