using System.Collections.Concurrent;
using System.Security.Cryptography;
using GitHubActionsPort.Broker.Auth;

namespace GitHubActionsPort.Broker.Leases;

/// <summary>
/// A grant of named targets to one caller, bound to the session key the agent holds. It ends at expiry (a timer on
/// the monotonic clock, so a wall-clock jump changes nothing), on renewal's absence, or when ended with a reason;
/// <see cref="Ended"/> then ends every tunnel of it.
/// </summary>
internal sealed class Lease : IDisposable
{
    /// <summary>
    /// Proofs remembered per lease for replay detection, each for at most two minutes (its timestamp's window): room
    /// for a job opening thousands of tunnels a minute (a test suite's connection pool, warm raw-lane connections), at
    /// about 100 bytes each; a key holder making more calls than that is refused until the oldest age out.
    /// </summary>
    internal const int MaxRememberedProofs = 65_536;

    private readonly CancellationTokenSource _ending = new();
    private readonly ITimer _expiry;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, long> _proofNonces = new(StringComparer.Ordinal);
    private readonly Lock _renewing = new();
    private int _openTunnels;
    private int _warmConnections;
    private int _watches;
    private long _tunnelsStarted;
    private long _expiresAtTicks;

    public Lease(string id, CallerIdentity caller, IReadOnlySet<string> targets, TimeSpan ttl, TimeSpan maxLifetime, int maxConnections, ECDsa sessionKey, string sessionKeyThumbprint, TimeProvider time)
        : this(id, caller, targets, time.GetUtcNow(), ttl, maxLifetime, maxConnections, sessionKey, sessionKeyThumbprint, time)
    {
    }

    /// <summary>
    /// A lease as its store record describes it (granted here or by another instance, maybe before a restart): its
    /// expiry timer runs from <paramref name="expiresAt"/>, and a lease already past it is ended at once.
    /// </summary>
    public Lease(string id, CallerIdentity caller, IReadOnlySet<string> targets, DateTimeOffset grantedAt, DateTimeOffset expiresAt, DateTimeOffset maxExpiresAt, int maxConnections, ECDsa sessionKey, string sessionKeyThumbprint, TimeProvider time)
        : this(id, caller, targets, grantedAt, expiresAt - grantedAt, maxExpiresAt - grantedAt, maxConnections, sessionKey, sessionKeyThumbprint, time)
    {
    }

    private Lease(string id, CallerIdentity caller, IReadOnlySet<string> targets, DateTimeOffset grantedAt, TimeSpan ttl, TimeSpan maxLifetime, int maxConnections, ECDsa sessionKey, string sessionKeyThumbprint, TimeProvider time)
    {
        Id = id;
        Caller = caller;
        Targets = targets;
        MaxConnections = maxConnections;
        SessionKey = sessionKey;
        SessionKeyThumbprint = sessionKeyThumbprint;
        _time = time;
        GrantedAt = grantedAt;
        MaxExpiresAt = GrantedAt + maxLifetime;
        _expiresAtTicks = (GrantedAt + ttl).UtcTicks;
        var left = GrantedAt + ttl - time.GetUtcNow();
        _expiry = time.CreateTimer(_ => _ending.Cancel(), null, left > TimeSpan.Zero ? left : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
        // A lease ended early must not stay rooted by its expiry timer until it would have expired.
        _ending.Token.Register(() => _expiry.Dispose());
    }

    public string Id { get; }

    public CallerIdentity Caller { get; }

    public IReadOnlySet<string> Targets { get; }

    public int MaxConnections { get; }

    /// <summary>The public half of the agent's session key: every lease-bearing call must be signed with its private half.</summary>
    public ECDsa SessionKey { get; }

    /// <summary>RFC 7638 thumbprint of <see cref="SessionKey"/>, as the lease token's <c>cnf.jkt</c> names it.</summary>
    public string SessionKeyThumbprint { get; }

    public DateTimeOffset GrantedAt { get; }

    public DateTimeOffset ExpiresAt => new(Interlocked.Read(ref _expiresAtTicks), TimeSpan.Zero);

    /// <summary>The rule's cap on the lease's whole life: renewals never reach past it.</summary>
    public DateTimeOffset MaxExpiresAt { get; }

    public int OpenTunnels => Volatile.Read(ref _openTunnels);

    public CancellationToken Ended => _ending.Token;

    public bool IsEnded => _ending.IsCancellationRequested;

    /// <summary>Why the lease ended early (closed, revoked, policy changed); null while live or when it simply expired.</summary>
    public string? EndReason { get; private set; }

    /// <summary>How the lease ended early; <see cref="LeaseEndKind.Expired"/> while live or when it simply expired.</summary>
    public LeaseEndKind EndKind { get; private set; }

    /// <summary>When <see cref="End"/> was called; null while live or when it simply expired.</summary>
    public DateTimeOffset? EndedAt { get; private set; }

    /// <summary>Ended so that the job's access is over (revoked, blocked, no longer permitted): no new session follows.</summary>
    public bool IsEndedForGood => EndKind is LeaseEndKind.Revoked or LeaseEndKind.Blocked or LeaseEndKind.NoLongerPermitted;

    /// <summary>
    /// Counts a tunnel this instance carries (for <c>sessions list</c>); the cap itself is counted over every instance
    /// by the store (<see cref="Store.IBrokerStore.TryOpenTunnelAsync"/>).
    /// </summary>
    public void TunnelOpened() => Interlocked.Increment(ref _openTunnels);

    public void CloseTunnel() => Interlocked.Decrement(ref _openTunnels);

    /// <summary>
    /// Takes one of the lease's <paramref name="max"/> places for an authenticated raw-lane connection waiting for
    /// its tunnel: an agent keeps a few warm, and a lease cannot hold the broker's connections idle without bound.
    /// </summary>
    public bool TryHoldWarmConnection(int max)
    {
        if (Interlocked.Increment(ref _warmConnections) <= max)
        {
            return true;
        }

        Interlocked.Decrement(ref _warmConnections);
        return false;
    }

    public void ReleaseWarmConnection() => Interlocked.Decrement(ref _warmConnections);

    /// <summary>Takes one of the lease's <paramref name="max"/> places for a WatchSession call held open.</summary>
    public bool TryHoldWatch(int max)
    {
        if (Interlocked.Increment(ref _watches) <= max)
        {
            return true;
        }

        Interlocked.Decrement(ref _watches);
        return false;
    }

    public void ReleaseWatch() => Interlocked.Decrement(ref _watches);

    /// <summary>Numbers the lease's tunnels for logs: <c>lse_x/1</c>, <c>lse_x/2</c>, ...</summary>
    public long NextTunnelNumber() => Interlocked.Increment(ref _tunnelsStarted);

    /// <summary>
    /// Where a renewal of <paramref name="ttl"/> from now would move expiry, capped by <see cref="MaxExpiresAt"/>; null
    /// when the lease has ended or is already there. Nothing changes until <see cref="ExtendTo"/>: the store is told first.
    /// </summary>
    public DateTimeOffset? ExtensionTarget(TimeSpan ttl)
    {
        var now = _time.GetUtcNow();
        var target = now + ttl < MaxExpiresAt ? now + ttl : MaxExpiresAt;
        return IsEnded || target <= ExpiresAt ? null : target;
    }

    /// <summary>
    /// Moves expiry to <paramref name="expiresAt"/> (a renewal here, or one another instance recorded), never back
    /// and never past <see cref="MaxExpiresAt"/>; false when the lease has ended or nothing moved.
    /// </summary>
    public bool ExtendTo(DateTimeOffset expiresAt)
    {
        lock (_renewing)
        {
            var target = expiresAt < MaxExpiresAt ? expiresAt : MaxExpiresAt;
            if (IsEnded || target <= ExpiresAt)
            {
                return false;
            }

            Interlocked.Exchange(ref _expiresAtTicks, target.UtcTicks);
            var left = target - _time.GetUtcNow();
            _expiry.Change(left > TimeSpan.Zero ? left : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
            return !IsEnded;
        }
    }

    /// <summary>
    /// Records a proof's nonce: fresh, used before (a replayed proof), or one too many while the lease remembers
    /// <see cref="MaxRememberedProofs"/> others. A nonce need only be remembered while its timestamp would still be accepted.
    /// </summary>
    public ProofNonceUse TryUseProofNonce(string nonce, DateTimeOffset proofTime)
    {
        var now = _time.GetUtcNow();
        if (_proofNonces.Count >= MaxRememberedProofs)
        {
            foreach (var (old, until) in _proofNonces)
            {
                if (until < now.UtcTicks)
                {
                    _proofNonces.TryRemove(new KeyValuePair<string, long>(old, until));
                }
            }

            if (_proofNonces.Count >= MaxRememberedProofs)
            {
                return ProofNonceUse.TooMany;
            }
        }

        return _proofNonces.TryAdd(nonce, (proofTime + Protocol.LeaseProof.MaxClockDifference).UtcTicks) ? ProofNonceUse.Fresh : ProofNonceUse.Replayed;
    }

    /// <summary>Drops the remembered proof nonces of an ended lease, which is kept only to say how it ended.</summary>
    public void ForgetProofNonces() => _proofNonces.Clear();

    /// <summary>Ends the lease now: every tunnel of it is ended with <paramref name="reason"/>; the first end's kind stands.</summary>
    public void End(string reason, LeaseEndKind kind) => EndAsRecorded(reason, kind, _time.GetUtcNow());

    /// <summary>Ends the lease as its store record says it ended (here or at another instance, <paramref name="at"/>).</summary>
    public void EndAsRecorded(string reason, LeaseEndKind kind, DateTimeOffset at)
    {
        lock (_renewing)
        {
            if (EndReason is null && !IsEnded)
            {
                EndReason = reason;
                EndKind = kind;
                EndedAt = at;
            }
        }

        _ending.Cancel();
    }

    /// <summary>Only at shutdown: tunnels hold <see cref="Ended"/> until they finish.</summary>
    public void Dispose()
    {
        _expiry.Dispose();
        SessionKey.Dispose();
        _ending.Dispose();
    }
}
