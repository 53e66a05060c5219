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

    [LoggerMessage(126, LogLevel.Information, "Revocation by {By} from {Peer} on {Claims} matched {Count} live leases", EventName = "RevocationMatched")]
    public static partial void RevocationMatched(ILogger logger, string by, string peer, string claims, int count);
}
