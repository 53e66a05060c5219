namespace GitHubActionsPort.Broker.Services;

internal sealed partial class BrokerService
{
    private static partial class Log
    {
        [LoggerMessage(10, LogLevel.Information, "Session {LeaseId} renewed until {ExpiresAt:u}", EventName = "SessionRenewed")]
        public static partial void SessionRenewed(ILogger logger, string leaseId, DateTimeOffset expiresAt);

        [LoggerMessage(11, LogLevel.Warning, "Renewal of session {LeaseId} refused: {Reason}", EventName = "RenewalRefused")]
        public static partial void RenewalRefused(ILogger logger, string leaseId, string reason);

        [LoggerMessage(12, LogLevel.Information, "Session {LeaseId} closed by the agent", EventName = "SessionClosed")]
        public static partial void SessionClosed(ILogger logger, string leaseId);

        [LoggerMessage(15, LogLevel.Warning, "An audit record was not written: {Reason}", EventName = "AuditSkipped")]
        public static partial void AuditSkipped(ILogger logger, string reason);

        [LoggerMessage(13, LogLevel.Warning, "{Method} from {Peer} refused: {Reason}", EventName = "LeaseRejected")]
        public static partial void LeaseRejected(ILogger logger, string peer, string method, string reason);

        [LoggerMessage(15, LogLevel.Warning, "Session {LeaseId} refused to {Caller}: blocked by {BlockId}", EventName = "SessionBlocked")]
        public static partial void SessionBlocked(ILogger logger, string leaseId, string caller, string blockId);

        [LoggerMessage(1, LogLevel.Information, "Session {LeaseId} granted to {Caller} (run {RunId} attempt {RunAttempt}) for {Targets} until {ExpiresAt:u} by rule {Rules}", EventName = "SessionGranted")]
        public static partial void SessionGranted(ILogger logger, string leaseId, string caller, string runId, string runAttempt, string targets, DateTimeOffset expiresAt, string rules);

        [LoggerMessage(2, LogLevel.Warning, "Session denied: {Reason} (caller {Caller})", EventName = "SessionDenied")]
        public static partial void SessionDenied(ILogger logger, string caller, string reason);

        [LoggerMessage(3, LogLevel.Warning, "Id-token from {Peer} rejected: {Reason}", EventName = "TokenRejected")]
        public static partial void TokenRejected(ILogger logger, string peer, string reason);

        // Warning, not Error: it repeats for every request while an issuer is down, and the outage itself is
        // reported once, as an error, by the key fetch.
        [LoggerMessage(4, LogLevel.Warning, "Issuer keys unavailable: {Reason}", EventName = "IssuerUnavailable")]
        public static partial void IssuerUnavailable(ILogger logger, string reason, Exception exception);

        [LoggerMessage(17, LogLevel.Warning, "Session refused: the state store is unreachable, so the broker cannot {What} ({Reason})", EventName = "SessionStoreUnavailable")]
        public static partial void StoreUnavailable(ILogger logger, string what, string reason);

        // Debug: a flood of bad tokens must not become a flood of log lines; the sessions metric counts them.
        [LoggerMessage(16, LogLevel.Debug, "OpenSession from {Peer} refused unread: too many rejected id-tokens from its address (retry after {RetryAfter})", EventName = "SessionRateLimited")]
        public static partial void SessionRateLimited(ILogger logger, string peer, TimeSpan retryAfter);
    }
}
