namespace GitHubActionsPort.Broker.Store;

/// <summary>
/// The broker's state that must outlive a process and be shared by every instance: leases, id-token replay records,
/// proof nonces, tunnel slots, standing blocks, lease-signing keys' public halves and the instances themselves.
/// Every instance keeps what its hot path reads in memory and reads changes back through <see cref="ChangesSinceAsync"/>;
/// it writes here only what must be exact across instances. Every call that cannot reach the store throws
/// <see cref="StoreUnavailableException"/>: the caller fails closed.
/// </summary>
/// <remarks>
/// Times are the caller's (the instance's clock), stored as given: instances are expected to keep NTP time, as the
/// lease tokens' expiry already requires.
/// </remarks>
internal interface IBrokerStore : IAsyncDisposable
{
    /// <summary>Which store this is, for the start-up line, metrics and <c>/healthz</c>.</summary>
    StoreKind Kind { get; }

    /// <summary>The schema version the store is at once opened (0 for memory, which has none).</summary>
    int SchemaVersion { get; }

    /// <summary>Where it lives, for people (a file path, or host/database/schema; never a password).</summary>
    string Describe();

    /// <summary>
    /// Creates or migrates the schema (safe when several instances start at once) and checks the store answers.
    /// Called once at start, before any other call; throws <see cref="StoreUnavailableException"/> with the cause.
    /// </summary>
    Task OpenAsync(CancellationToken cancellationToken);

    // ---- Leases --------------------------------------------------------------------------------------------

    /// <summary>Records a lease just granted (its id is new).</summary>
    Task InsertLeaseAsync(LeaseRecord lease, CancellationToken cancellationToken);

    /// <summary>The lease with <paramref name="leaseId"/>, live, expired or ended; null when unknown or pruned.</summary>
    Task<LeaseRecord?> FindLeaseAsync(string leaseId, CancellationToken cancellationToken);

    /// <summary>Leases neither ended nor expired at <paramref name="now"/>, on any instance.</summary>
    Task<IReadOnlyList<LeaseRecord>> LiveLeasesAsync(DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>
    /// Moves a live lease's expiry to <paramref name="expiresAt"/> and publishes the change; false (nothing changed)
    /// when the lease is unknown or has ended.
    /// </summary>
    Task<bool> ExtendLeaseAsync(string leaseId, DateTimeOffset expiresAt, CancellationToken cancellationToken);

    /// <summary>
    /// Records how a lease ended and publishes the change to every instance. The first end stands: a lease already
    /// ended keeps its end. Returns the lease as stored afterwards (with whichever end stands); null when unknown.
    /// </summary>
    Task<LeaseRecord?> EndLeaseAsync(string leaseId, LeaseEndRecord end, CancellationToken cancellationToken);

    // ---- Single use ----------------------------------------------------------------------------------------

    /// <summary>Records an id-token's (<c>iss</c>, <c>jti</c>) until <paramref name="rememberUntil"/>; false when seen before, by any instance.</summary>
    Task<bool> TryUseIdTokenAsync(string issuer, string tokenId, DateTimeOffset rememberUntil, CancellationToken cancellationToken);

    /// <summary>
    /// Records a proof of possession's nonce for <paramref name="leaseId"/> until <paramref name="rememberUntil"/>:
    /// false when any instance saw it before (a replayed proof).
    /// </summary>
    Task<bool> TryUseProofNonceAsync(string leaseId, string nonce, DateTimeOffset rememberUntil, CancellationToken cancellationToken);

    // ---- Tunnel slots (a lease's MaxConnections, counted over every instance) --------------------------------

    /// <summary>
    /// Takes one of the lease's <paramref name="maxConnections"/> slots for <paramref name="tunnel"/>, exactly, also
    /// when instances race; false when all are taken or the lease has ended.
    /// </summary>
    Task<bool> TryOpenTunnelAsync(TunnelRecord tunnel, int maxConnections, CancellationToken cancellationToken);

    /// <summary>Gives back the slot of a tunnel that ended; nothing when it was already given back.</summary>
    Task CloseTunnelAsync(string tunnelId, CancellationToken cancellationToken);

    /// <summary>Tunnels open now, on every instance.</summary>
    Task<IReadOnlyList<TunnelRecord>> OpenTunnelsAsync(CancellationToken cancellationToken);

    // ---- Standing blocks -----------------------------------------------------------------------------------

    /// <summary>Records a block and publishes the change.</summary>
    Task AddBlockAsync(BlockRecord block, CancellationToken cancellationToken);

    /// <summary>Lifts a block and publishes the change; null when there was none with that id.</summary>
    Task<BlockRecord?> RemoveBlockAsync(string blockId, CancellationToken cancellationToken);

    /// <summary>Every standing block, oldest first.</summary>
    Task<IReadOnlyList<BlockRecord>> BlocksAsync(CancellationToken cancellationToken);

    // ---- Lease-signing keys (public halves) ----------------------------------------------------------------

    /// <summary>Publishes an instance's lease-signing key's public half; publishing the same key id again changes nothing.</summary>
    Task PublishSigningKeyAsync(SigningKeyRecord key, CancellationToken cancellationToken);

    /// <summary>The public key with <paramref name="keyId"/> (an RFC 7638 thumbprint), or null.</summary>
    Task<SigningKeyRecord?> FindSigningKeyAsync(string keyId, CancellationToken cancellationToken);

    // ---- Instances -----------------------------------------------------------------------------------------

    /// <summary>Records <paramref name="instance"/> as alive now (inserting it the first time).</summary>
    Task HeartbeatAsync(InstanceRecord instance, CancellationToken cancellationToken);

    /// <summary>Sets an instance's state (draining, gone) and publishes the change.</summary>
    Task SetInstanceStateAsync(string instanceId, InstanceState state, CancellationToken cancellationToken);

    /// <summary>Every instance the store knows, live or not, most recent heartbeat first.</summary>
    Task<IReadOnlyList<InstanceRecord>> InstancesAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Marks instances whose last heartbeat is older than <paramref name="heartbeatsBefore"/> as lost, exactly once
    /// across instances (the one that claims it does the rest), and gives back their tunnels' slots. Returns each
    /// instance claimed with the tunnels it carried, now removed, so the caller records them as ended.
    /// </summary>
    Task<IReadOnlyList<LostInstance>> ClaimLostInstancesAsync(DateTimeOffset heartbeatsBefore, CancellationToken cancellationToken);

    // ---- Changes -------------------------------------------------------------------------------------------

    /// <summary>
    /// Changes published by any instance with a sequence number above <paramref name="after"/>, in order (at most
    /// <paramref name="limit"/>). Sequence numbers are the store's and never reused; a change is visible here only
    /// once its write committed, and no change with a lower number becomes visible after a higher one was read.
    /// </summary>
    Task<IReadOnlyList<StoreChange>> ChangesSinceAsync(long after, int limit, CancellationToken cancellationToken);

    /// <summary>The highest change sequence number so far (0 when none): where a starting instance begins reading.</summary>
    Task<long> LatestChangeAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Raised (on any thread) when changes may be waiting: a PostgreSQL notification, or a write in this process. A
    /// hint only: readers also poll, since a notification is lost while the store's connection is down.
    /// </summary>
    event Action? ChangesMayBeWaiting;

    /// <summary>
    /// Deletes what can no longer matter at <paramref name="now"/>: leases past their maximum life, replay records and
    /// nonces past their time, changes older than <paramref name="changesBefore"/>, instances gone long ago.
    /// </summary>
    Task PruneAsync(DateTimeOffset now, DateTimeOffset changesBefore, CancellationToken cancellationToken);
}
