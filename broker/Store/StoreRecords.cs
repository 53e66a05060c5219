using GitHubActionsPort.Broker.Leases;

namespace GitHubActionsPort.Broker.Store;

/// <summary>Which store holds the broker's state (<c>Broker:Store:Kind</c>).</summary>
internal enum StoreKind
{
    /// <summary>One embedded file (the default): a single broker's restart loses nothing.</summary>
    Sqlite,

    /// <summary>A PostgreSQL database several instances share.</summary>
    Postgres,

    /// <summary>This process's memory: tests and the demo only; nothing survives a restart.</summary>
    Memory,
}

/// <summary>
/// A lease as the store holds it: everything any instance needs to check a lease-bearing call and to end the lease,
/// without the instance that granted it.
/// </summary>
/// <remarks>
/// <c>SessionPublicKey</c> is the session key's public half (X.509 SubjectPublicKeyInfo); <c>NonStringClaims</c>
/// names the caller's claims whose value was not a string; <c>GrantedBy</c> is the instance that granted it;
/// <c>End</c> says how it ended, null while not ended (it may still have expired: see <c>ExpiresAt</c>).
/// </remarks>
internal sealed record LeaseRecord(
    string Id,
    string Issuer,
    string Subject,
    string TokenId,
    DateTimeOffset TokenExpiresAt,
    IReadOnlyDictionary<string, string> Claims,
    IReadOnlyList<string> NonStringClaims,
    IReadOnlyList<string> Targets,
    DateTimeOffset GrantedAt,
    DateTimeOffset ExpiresAt,
    DateTimeOffset MaxExpiresAt,
    int MaxConnections,
    string SessionKeyThumbprint,
    byte[] SessionPublicKey,
    string GrantedBy,
    LeaseEndRecord? End)
{
    /// <summary>The run the lease was granted to (GitHub's <c>run_id</c> claim), or null.</summary>
    public string? RunId => Claims.GetValueOrDefault("run_id");

    /// <summary>The run attempt the lease was granted to (GitHub's <c>run_attempt</c> claim), or null.</summary>
    public string? RunAttempt => Claims.GetValueOrDefault("run_attempt");
}

/// <summary>How and why a lease ended, and when.</summary>
internal sealed record LeaseEndRecord(LeaseEndKind Kind, string Reason, DateTimeOffset At);

/// <summary>One open tunnel and the instance that carries it.</summary>
internal sealed record TunnelRecord(string Id, string LeaseId, string Target, string InstanceId, DateTimeOffset OpenedAt);

/// <summary>
/// A standing block: sessions whose caller's claims match every pattern in <see cref="Claims"/> are refused.
/// <see cref="RevokedLease"/> names the lease whose revocation placed it (one run attempt), else null.
/// </summary>
internal sealed record BlockRecord(
    string Id, IReadOnlyDictionary<string, string> Claims, string Reason, string By, DateTimeOffset CreatedAt, string? RevokedLease);

/// <summary>The public half of one instance's lease-signing key (ECDSA P-256, SubjectPublicKeyInfo), by its RFC 7638 thumbprint.</summary>
internal sealed record SigningKeyRecord(string KeyId, byte[] PublicKey, string InstanceId, DateTimeOffset PublishedAt);

/// <summary>Where an instance is in its life.</summary>
internal enum InstanceState
{
    /// <summary>Serving sessions and tunnels.</summary>
    Live,

    /// <summary>Stopping: refuses new sessions and tunnels, lets open ones finish.</summary>
    Draining,

    /// <summary>Stopped cleanly.</summary>
    Gone,

    /// <summary>Stopped sending heartbeats; another instance recorded its tunnels as ended.</summary>
    Lost,
}

/// <summary>One broker process sharing the store: its id (new at each start), where it listens, its last heartbeat.</summary>
internal sealed record InstanceRecord(string Id, string Address, DateTimeOffset StartedAt, DateTimeOffset HeartbeatAt, InstanceState State);

/// <summary>An instance found lost, with the tunnels it carried (removed from the store when it was claimed).</summary>
internal sealed record LostInstance(InstanceRecord Instance, IReadOnlyList<TunnelRecord> Tunnels);

/// <summary>What a change touched; readers fetch the current state of <see cref="StoreChange.Id"/> themselves.</summary>
internal enum StoreChangeKind
{
    /// <summary>A lease's expiry moved or it ended: read it again with <see cref="IBrokerStore.FindLeaseAsync"/>.</summary>
    Lease,

    /// <summary>A block was placed or lifted: read the blocks again.</summary>
    Block,

    /// <summary>An instance changed state (draining, gone, lost).</summary>
    Instance,
}

/// <summary>One published change, numbered by the store.</summary>
internal sealed record StoreChange(long Sequence, StoreChangeKind Kind, string Id);

/// <summary>The store cannot be reached or failed a call: the caller refuses what it was doing (fail closed).</summary>
internal sealed class StoreUnavailableException : Exception
{
    public StoreUnavailableException()
        : this("the broker's state store is unreachable")
    {
    }

    public StoreUnavailableException(string message)
        : base(message)
    {
    }

    public StoreUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
