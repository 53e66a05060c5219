using System.Collections.Concurrent;
using System.Security.Cryptography;
using GitHubActionsPort.Broker.Audit;
using GitHubActionsPort.Broker.Auth;
using GitHubActionsPort.Broker.Store;
using GitHubActionsPort.Protocol;
using Grpc.Core;

namespace GitHubActionsPort.Broker.Leases;

/// <summary>
/// The leases this instance works with, kept in memory and current with the state store, and the check every
/// lease-bearing call passes: a token a live instance signed, naming a lease the store holds, presented with a fresh
/// proof signed by that lease's session key. A lease granted by another instance, or before a restart, is read from
/// the store at its first call here; after that its calls are answered from memory, and every change any instance
/// makes to it (an end, a renewal) arrives through <see cref="OnChangeAsync"/>.
/// </summary>
internal sealed class LeaseStore(
    LeaseTokens tokens, IBrokerStore store, BrokerInstance instance, TimeProvider time, AuditTrail audit, ILogger<LeaseStore> logger)
    : IStoreChangeListener, IDisposable
{
    private readonly ConcurrentDictionary<string, Lease> _byId = new(StringComparer.Ordinal);

    /// <summary>
    /// Lease tokens whose signature already checked out, by SHA-256: a busy job opens many tunnels with one token,
    /// and the signature check is the dearest step of each. Entries go with their lease.
    /// </summary>
    private readonly ConcurrentDictionary<string, ValidatedToken> _validated = new(StringComparer.Ordinal);

    /// <summary>
    /// Leases ended for good (revoked, blocked, no longer permitted), by id, until they would have reached their
    /// maximum life: a call with such a lease's token is told how it ended, not that it is unknown, so the agent stops
    /// instead of opening a new session. At most <see cref="MaxEndedRemembered"/>; the longest ended go first. A lease
    /// forgotten here is still told so: its store record keeps its end.
    /// </summary>
    private readonly ConcurrentDictionary<string, Lease> _endedForGood = new(StringComparer.Ordinal);

    /// <summary>Ended leases remembered at most: each is a few hundred bytes, and a revocation is an operator's act.</summary>
    internal const int MaxEndedRemembered = 10_000;

    /// <summary>The leases not yet ended that this instance holds in memory (granted here, or used here).</summary>
    public IEnumerable<Lease> Live => _byId.Values.Where(l => !l.IsEnded);

    /// <summary>
    /// Grants a lease: recorded in the store before it is answered, so every instance (and this one after a restart)
    /// honours it. Throws Unavailable when the store cannot take it: no record, no lease.
    /// </summary>
    public async Task<(Lease Lease, string Token)> GrantAsync(
        CallerIdentity caller, IReadOnlyCollection<string> targets, TimeSpan ttl, TimeSpan maxLifetime, int maxConnections, SessionKey sessionKey, byte[] sessionPublicKey, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(caller);
        ArgumentNullException.ThrowIfNull(sessionKey);
        var id = "lse_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        var lease = new Lease(id, caller, targets.ToHashSet(StringComparer.Ordinal), ttl, maxLifetime, maxConnections, sessionKey.Key, sessionKey.Thumbprint, time);
        try
        {
            await store.InsertLeaseAsync(Record(lease, sessionPublicKey), cancellationToken).ConfigureAwait(false);
        }
        catch (StoreUnavailableException ex)
        {
            LeaseStoreLog.GrantNotStored(logger, id, StoreRefusal.Cause(ex));
            lease.Dispose();
            throw StoreRefusal.Exception(ex);
        }
        catch
        {
            lease.Dispose();
            throw;
        }

        Track(lease, grantedHere: true);
        return (lease, tokens.Issue(lease));
    }

    /// <summary>A new token for a lease whose expiry moved.</summary>
    public string Reissue(Lease lease) => tokens.Issue(lease);

    /// <summary>
    /// Renews <paramref name="lease"/> by <paramref name="ttl"/> from now (capped by its maximum life): recorded in the
    /// store first, so every instance carries the new expiry. False when it is at its cap or has ended (then ended
    /// here too, as the store says); throws Unavailable when the store cannot be reached.
    /// </summary>
    public async Task<bool> TryExtendAsync(Lease lease, TimeSpan ttl, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lease);
        if (lease.ExtensionTarget(ttl) is not { } target)
        {
            return false;
        }

        try
        {
            if (!await store.ExtendLeaseAsync(lease.Id, target, cancellationToken).ConfigureAwait(false))
            {
                // Ended at another instance a moment ago, and its change not read here yet.
                Apply(lease, await store.FindLeaseAsync(lease.Id, cancellationToken).ConfigureAwait(false));
                return false;
            }
        }
        catch (StoreUnavailableException ex)
        {
            throw StoreRefusal.Exception(ex);
        }

        return lease.ExtendTo(target);
    }

    /// <summary>
    /// Ends <paramref name="lease"/> early, for every instance: recorded in the store, then ended here as the store's
    /// record has it (an end another instance recorded first stands). Ended here even when the store cannot be
    /// reached (then <see cref="StoreUnavailableException"/> follows, for the caller to report): this instance's
    /// tunnels of it go at once either way.
    /// </summary>
    public async Task EndAsync(Lease lease, string reason, LeaseEndKind kind, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(lease);
        LeaseRecord? stored;
        try
        {
            stored = await store.EndLeaseAsync(lease.Id, new LeaseEndRecord(kind, reason, time.GetUtcNow()), cancellationToken).ConfigureAwait(false);
        }
        catch (StoreUnavailableException ex)
        {
            LeaseStoreLog.EndNotStored(logger, lease.Id, StoreRefusal.Cause(ex));
            lease.End(reason, kind);
            throw;
        }

        if (stored?.End is null)
        {
            lease.End(reason, kind);
        }
        else
        {
            Apply(lease, stored);
        }
    }

    /// <summary>
    /// <see cref="EndAsync"/> for callers that cannot wait (a policy reload): ended here at once, recorded in the
    /// store in the background; a record that fails is logged.
    /// </summary>
    public void EndSoon(Lease lease, string reason, LeaseEndKind kind)
    {
        ArgumentNullException.ThrowIfNull(lease);
        var recording = EndAsync(lease, reason, kind);
        lease.End(reason, kind);
        recording.ContinueWith(
            static recorded => _ = recorded.Exception, // EndAsync logged it
            CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>
    /// The status every lease-bearing call of <paramref name="lease"/>, ended for good, is refused with: the kind and
    /// the broker's words (who ended it, when, why), so the agent stops instead of opening a new session.
    /// </summary>
    public static Status EndedStatus(Lease lease)
    {
        ArgumentNullException.ThrowIfNull(lease);
        var kind = lease.EndKind switch
        {
            LeaseEndKind.Revoked => LeaseEnded.Revoked,
            LeaseEndKind.Blocked => LeaseEnded.Blocked,
            _ => LeaseEnded.Policy,
        };
        var at = lease.EndedAt is { } when ? $" at {when:u}" : string.Empty;
        return LeaseEnded.Status(kind, $"lease {lease.Id} ended{at}: {lease.EndReason}; the job's access is over, do not reopen");
    }

    /// <summary>
    /// The live lease a lease-bearing call stands for, or why not. The answer for an unknown, forged, edited or
    /// expired token is the same, so the caller learns nothing about which. A lease ended for good is the exception:
    /// once the token and proof check out, <c>EndedForGood</c> names it (see <see cref="EndedStatus"/>). Throws
    /// Unavailable when the store, needed to answer, cannot be reached (fail closed).
    /// </summary>
    public async Task<(Lease? Lease, string? Failure, Lease? EndedForGood)> AuthenticateAsync(string? token, string? proof, string method, string target)
    {
        try
        {
            return await CheckAsync(token, proof, method, target).ConfigureAwait(false);
        }
        catch (StoreUnavailableException ex)
        {
            throw StoreRefusal.Exception(ex);
        }
    }

    private async Task<(Lease? Lease, string? Failure, Lease? EndedForGood)> CheckAsync(string? token, string? proof, string method, string target)
    {
        var valid = await ValidateAsync(token).ConfigureAwait(false);
        if (valid is null || await FindAsync(valid.LeaseId).ConfigureAwait(false) is not { } lease || (lease.IsEnded && !lease.IsEndedForGood))
        {
            return (null, WireLimits.LeaseUnknownDetail + "; open a new session", null);
        }

        if (!string.Equals(valid.Thumbprint, lease.SessionKeyThumbprint, StringComparison.Ordinal))
        {
            return (null, "the lease token does not belong to this lease's session key", null);
        }

        if (!lease.IsEnded)
        {
            // Only tokens of live leases are remembered, so the cache is bounded by the leases themselves.
            _validated.TryAdd(valid.Hash, valid);
        }

        if (!LeaseProof.TryParse(proof, out var unixMs, out var nonce, out var signature))
        {
            return (null, $"a lease-bearing call needs a valid '{LeaseProof.Header}' header signed with the session key", null);
        }

        var proofTime = DateTimeOffset.FromUnixTimeMilliseconds(unixMs);
        if ((proofTime - time.GetUtcNow()).Duration() > LeaseProof.MaxClockDifference)
        {
            return (null, "the proof of possession is stale or from the future; check the runner's clock", null);
        }

        if (!lease.SessionKey.VerifyData(LeaseProof.SignedBytes(method, lease.Id, target, unixMs, nonce), signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation))
        {
            return (null, "the proof of possession does not verify with the lease's session key", null);
        }

        // This instance's own memory first: it bounds a key holder's calls and catches a replay here without a
        // round trip; the store then catches one replayed at another instance, or before a restart.
        switch (lease.TryUseProofNonce(nonce, proofTime))
        {
            case ProofNonceUse.Replayed:
                return (null, "the proof of possession was already used", null);
            case ProofNonceUse.TooMany:
                return (null, $"lease {lease.Id} made more than {Lease.MaxRememberedProofs} lease-bearing calls (tunnels, raw-lane connections) in the last two minutes; wait and try again", null);
        }

        if (lease.IsEnded)
        {
            // A replayed proof of a lease ended for good opens nothing either: it only hears how the lease ended.
            return (null, EndedStatus(lease).Detail, lease);
        }

        if (!await store.TryUseProofNonceAsync(lease.Id, nonce, proofTime + LeaseProof.MaxClockDifference, CancellationToken.None).ConfigureAwait(false))
        {
            return (null, "the proof of possession was already used", null);
        }

        return (lease, null, null);
    }

    /// <summary>Reads <paramref name="lease"/> again from the store and ends or extends it as its record says.</summary>
    public async Task RefreshAsync(Lease lease, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(lease);
        Apply(lease, await store.FindLeaseAsync(lease.Id, cancellationToken).ConfigureAwait(false));
    }

    /// <summary>Brings the leases held here up to date with a change any instance published.</summary>
    public async Task OnChangeAsync(StoreChange change, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(change);
        if (change.Kind != StoreChangeKind.Lease || !_byId.TryGetValue(change.Id, out var lease))
        {
            // A lease not held here is read from the store at its first call, as it then stands.
            return;
        }

        Apply(lease, await store.FindLeaseAsync(change.Id, cancellationToken).ConfigureAwait(false));
    }

    /// <summary>Reads every lease held here again: at start (none), and after the store was out of reach.</summary>
    public async Task ReloadAsync(CancellationToken cancellationToken)
    {
        foreach (var lease in _byId.Values.ToList())
        {
            Apply(lease, await store.FindLeaseAsync(lease.Id, cancellationToken).ConfigureAwait(false));
        }
    }

    /// <summary>Ends or extends the local copy as the store's record has it.</summary>
    private static void Apply(Lease lease, LeaseRecord? record)
    {
        if (record is null)
        {
            // Pruned from the store: past its maximum life, so past its expiry too.
            lease.End("the lease is no longer in the broker's state store", LeaseEndKind.Broker);
        }
        else if (record.End is { } end)
        {
            lease.EndAsRecorded(end.Reason, end.Kind, end.At);
        }
        else
        {
            lease.ExtendTo(record.ExpiresAt);
        }
    }

    /// <summary>
    /// The lease with <paramref name="id"/>: live, ended a moment ago, remembered as ended for good, or (unknown here)
    /// as the store has it, then held here. Null when the store knows none, or it has expired.
    /// </summary>
    private async Task<Lease?> FindAsync(string id)
    {
        if (_byId.TryGetValue(id, out var lease) || _endedForGood.TryGetValue(id, out lease))
        {
            return lease;
        }

        if (await store.FindLeaseAsync(id, CancellationToken.None).ConfigureAwait(false) is not { } record)
        {
            return null;
        }

        var now = time.GetUtcNow();
        if (record.End is null && record.ExpiresAt <= now)
        {
            return null;
        }

        if (record.End is { } end && (!IsForGood(end.Kind) || record.MaxExpiresAt <= now))
        {
            // Closed or stopped: unknown to the caller, as before; ended for good: told how, until its maximum life.
            return null;
        }

        return Materialize(record);
    }

    /// <summary>A local <see cref="Lease"/> for a store record (granted by another instance or before a restart).</summary>
    private Lease? Materialize(LeaseRecord record)
    {
        if (SessionKey.TryRead(record.SessionPublicKey) is not { } sessionKey)
        {
            // A record no instance could have written: treated as unknown rather than trusted.
            return null;
        }

        var caller = new CallerIdentity(record.Issuer, record.Subject, record.TokenId, record.TokenExpiresAt, record.Claims, record.NonStringClaims.ToHashSet(StringComparer.Ordinal));
        var lease = new Lease(
            record.Id, caller, record.Targets.ToHashSet(StringComparer.Ordinal), record.GrantedAt, record.ExpiresAt, record.MaxExpiresAt,
            record.MaxConnections, sessionKey.Key, sessionKey.Thumbprint, time);
        if (record.End is { } end)
        {
            lease.EndAsRecorded(end.Reason, end.Kind, end.At);
            RememberEnded(lease);
            if (_endedForGood.TryGetValue(lease.Id, out var remembered) && !ReferenceEquals(remembered, lease))
            {
                lease.Dispose();
                return remembered;
            }

            return lease;
        }

        if (!_byId.TryAdd(lease.Id, lease))
        {
            // Another call read it at the same moment: one copy, theirs.
            lease.Dispose();
            return _byId.TryGetValue(record.Id, out var theirs) ? theirs : null;
        }

        LeaseStoreLog.Loaded(logger, lease.Id, record.GrantedBy);
        Track(lease, grantedHere: false);
        return lease;
    }

    /// <summary>Holds <paramref name="lease"/> here until it ends; then it is dropped (tunnels still hold its token, so not disposed).</summary>
    private void Track(Lease lease, bool grantedHere)
    {
        var id = lease.Id;
        _byId[id] = lease;
        lease.Ended.Register(() =>
        {
            if (lease.IsEndedForGood)
            {
                RememberEnded(lease);
            }

            _byId.TryRemove(new KeyValuePair<string, Lease>(id, lease));
            if (grantedHere)
            {
                Telemetry.BrokerMetrics.LeaseEnded();
            }

            // Expired, closed, revoked or no longer permitted: the trail says which. The lease has ended either way.
            audit.LeaseEndedAsync(lease).ContinueWith(
                write => LeaseStoreLog.EndNotAudited(logger, id, write.Exception!.GetBaseException().Message),
                CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            foreach (var (hash, token) in _validated)
            {
                if (token.LeaseId == id)
                {
                    _validated.TryRemove(hash, out _);
                }
            }
        });
    }

    private static bool IsForGood(LeaseEndKind kind) => kind is LeaseEndKind.Revoked or LeaseEndKind.Blocked or LeaseEndKind.NoLongerPermitted;

    /// <summary>Remembers a lease ended for good until its maximum life, dropping those past theirs, and the oldest beyond the cap.</summary>
    private void RememberEnded(Lease lease)
    {
        var now = time.GetUtcNow();
        foreach (var (id, old) in _endedForGood)
        {
            if (old.MaxExpiresAt <= now)
            {
                _endedForGood.TryRemove(new KeyValuePair<string, Lease>(id, old));
            }
        }

        while (_endedForGood.Count >= MaxEndedRemembered
            && _endedForGood.Values.MinBy(l => l.EndedAt) is { } oldest
            && _endedForGood.TryRemove(new KeyValuePair<string, Lease>(oldest.Id, oldest)))
        {
        }

        // A replayed proof of an ended lease opens nothing: its remembered nonces need not outlive it.
        lease.ForgetProofNonces();
        _endedForGood.TryAdd(lease.Id, lease);
    }

    /// <summary>The token's lease id and session-key thumbprint when a live instance signed it and it has not expired; else null.</summary>
    private async Task<ValidatedToken?> ValidateAsync(string? token)
    {
        if (string.IsNullOrEmpty(token))
        {
            return null;
        }

        var hash = Convert.ToHexString(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(token)));
        if (_validated.TryGetValue(hash, out var known))
        {
            return time.GetUtcNow() < known.ExpiresAt ? known : null;
        }

        return await tokens.ValidateAsync(token).ConfigureAwait(false) is { } claims
            ? new ValidatedToken(hash, claims.LeaseId, claims.Thumbprint, claims.ExpiresAt)
            : null;
    }

    /// <summary>
    /// The record of a lease as granted here: everything another instance needs to honour it without this one.
    /// </summary>
    private LeaseRecord Record(Lease lease, byte[] sessionPublicKey) => new(
        lease.Id,
        lease.Caller.Issuer,
        lease.Caller.Subject,
        lease.Caller.TokenId,
        lease.Caller.TokenExpiresAt,
        lease.Caller.Claims,
        lease.Caller.NonStringClaims.Order(StringComparer.Ordinal).ToList(),
        lease.Targets.Order(StringComparer.Ordinal).ToList(),
        lease.GrantedAt,
        lease.ExpiresAt,
        lease.MaxExpiresAt,
        lease.MaxConnections,
        lease.SessionKeyThumbprint,
        sessionPublicKey,
        instance.Id,
        End: null);

    /// <summary>
    /// Ends the leases held here for this process only: they live on in the store, for the other instances and for
    /// this broker's next start.
    /// </summary>
    public void Dispose()
    {
        foreach (var lease in _byId.Values)
        {
            lease.End("the broker is stopping", LeaseEndKind.Broker);
            lease.Dispose();
        }
    }

    private sealed record ValidatedToken(string Hash, string LeaseId, string Thumbprint, DateTimeOffset ExpiresAt);
}
