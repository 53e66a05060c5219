namespace GitHubActionsPort.Broker.Admin;

/// <summary>Log records of the admin endpoint: who revoked or blocked what, and refused credentials.</summary>
internal static partial class AdminLog
{
    [LoggerMessage(120, LogLevel.Information, "Admin endpoint listening on {Url} (credential in {TokenFile})", EventName = "AdminListening")]
    public static partial void Listening(ILogger logger, Uri url, string tokenFile);

    [LoggerMessage(121, LogLevel.Warning, "Created a new admin credential at {TokenFile}; ghaport-broker sessions reads it from there", EventName = "AdminCredentialCreated")]
    public static partial void CredentialCreated(ILogger logger, string tokenFile);

    [LoggerMessage(122, LogLevel.Warning, "Admin request {Method} {Path} from {Peer} refused: {Reason}", EventName = "AdminUnauthorized")]
    public static partial void Unauthorized(ILogger logger, string method, string path, string peer, string reason);

    [LoggerMessage(123, LogLevel.Warning, "Lease {LeaseId} revoked by {By} from {Peer}: {Reason} (caller {Caller})", EventName = "LeaseRevoked")]
    public static partial void LeaseRevoked(ILogger logger, string leaseId, string by, string peer, string reason, string caller);

    [LoggerMessage(124, LogLevel.Warning, "Block {BlockId} on {Claims} placed by {By} from {Peer}: {Reason}", EventName = "SessionsBlocked")]
    public static partial void Blocked(ILogger logger, string blockId, string claims, string by, string peer, string reason);

    [LoggerMessage(125, LogLevel.Warning, "Block {BlockId} on {Claims} lifted by {By} from {Peer}", EventName = "SessionsUnblocked")]
    public static partial void Unblocked(ILogger logger, string blockId, string claims, string by, string peer);

    [LoggerMessage(127, LogLevel.Warning, "Block {BlockId} on {Claims} placed by the revocation of lease {LeaseId}: new sessions of its run attempt are refused until it is lifted", EventName = "AttemptBlocked")]
    public static partial void AttemptBlocked(ILogger logger, string blockId, string claims, string leaseId);

    [LoggerMessage(128, LogLevel.Warning, "Lease {LeaseId} revoked, but its caller has no run_id claim to block; a new session of the same job is not refused", EventName = "AttemptNotBlocked")]
    public static partial void AttemptNotBlocked(ILogger logger, string leaseId);

    [LoggerMessage(129, LogLevel.Warning, "Block {BlockId} placed by the revocation of lease {LeaseId} was lifted: more than {Max} such blocks are kept", EventName = "AttemptBlockDropped")]
    public static partial void AttemptBlockDropped(ILogger logger, string blockId, string leaseId, int max);

    [LoggerMessage(126, LogLevel.Information, "Revocation by {By} from {Peer} on {Claims} matched {Count} live leases", EventName = "RevocationMatched")]
    public static partial void RevocationMatched(ILogger logger, string by, string peer, string claims, int count);

    [LoggerMessage(131, LogLevel.Warning, "Admin request {Method} {Path} answered 503: the state store ({Store}) is unreachable ({Reason})", EventName = "AdminStoreUnavailable")]
    public static partial void StoreUnavailable(ILogger logger, string method, string path, string store, string reason);
}
