using System.Collections.Concurrent;
using System.Security.Cryptography;
using GitHubActionsPort.Broker.Audit;
using GitHubActionsPort.Broker.Auth;
using GitHubActionsPort.Protocol;

namespace GitHubActionsPort.Broker.Leases;

/// <summary>
/// The live leases, and the check every lease-bearing call passes: a token this broker signed, naming a live lease,
/// presented with a fresh proof signed by that lease's session key.
/// </summary>
internal sealed class LeaseStore(LeaseTokens tokens, TimeProvider time, AuditTrail audit, ILogger<LeaseStore> logger) : IDisposable
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
    /// instead of opening a new session. At most <see cref="MaxEndedRemembered"/>; the longest ended go first.
    /// </summary>
    private readonly ConcurrentDictionary<string, Lease> _endedForGood = new(StringComparer.Ordinal);

    /// <summary>Ended leases remembered at most: each is a few hundred bytes, and a revocation is an operator's act.</summary>
    internal const int MaxEndedRemembered = 10_000;

    /// <summary>The leases not yet ended.</summary>
    public IEnumerable<Lease> Live => _byId.Values.Where(l => !l.IsEnded);

    public (Lease Lease, string Token) Grant(
        CallerIdentity caller, IReadOnlyCollection<string> targets, TimeSpan ttl, TimeSpan maxLifetime, int maxConnections, SessionKey sessionKey)
    {
        ArgumentNullException.ThrowIfNull(sessionKey);
        var id = "lse_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        var lease = new Lease(id, caller, targets.ToHashSet(StringComparer.Ordinal), ttl, maxLifetime, maxConnections, sessionKey.Key, sessionKey.Thumbprint, time);
        _byId[id] = lease;
        // Tunnels still hold the lease's token when it fires, so the lease is dropped here, not disposed.
        lease.Ended.Register(() =>
        {
            if (lease.IsEndedForGood)
            {
                RememberEnded(lease);
            }

            _byId.TryRemove(new KeyValuePair<string, Lease>(id, lease));
            Telemetry.BrokerMetrics.LeaseEnded();
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
        return (lease, tokens.Issue(lease));
    }

    /// <summary>A new token for a lease whose expiry moved.</summary>
    public string Reissue(Lease lease) => tokens.Issue(lease);

    /// <summary>
    /// The status every lease-bearing call of <paramref name="lease"/>, ended for good, is refused with: the kind and
    /// the broker's words (who ended it, when, why), so the agent stops instead of opening a new session.
    /// </summary>
    public static Grpc.Core.Status EndedStatus(Lease lease)
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
    /// once the token and proof check out, <c>EndedForGood</c> names it (see <see cref="EndedStatus"/>).
    /// </summary>
    public async Task<(Lease? Lease, string? Failure, Lease? EndedForGood)> AuthenticateAsync(string? token, string? proof, string method, string target)
    {
        var valid = await ValidateAsync(token).ConfigureAwait(false);
        if (valid is null || Find(valid.LeaseId) is not { } lease || (lease.IsEnded && !lease.IsEndedForGood))
        {
            return (null, WireLimits.LeaseUnknownDetail + "; open a new session", null);
        }

        if (!string.Equals(valid.Thumbprint, lease.SessionKeyThumbprint, StringComparison.Ordinal))
        {
            return (null, "the lease token does not belong to this lease's session key", null);
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

        switch (lease.TryUseProofNonce(nonce, proofTime))
        {
            case ProofNonceUse.Replayed:
                return (null, "the proof of possession was already used", null);
            case ProofNonceUse.TooMany:
                return (null, $"lease {lease.Id} made more than {Lease.MaxRememberedProofs} lease-bearing calls (tunnels, raw-lane connections) in the last two minutes; wait and try again", null);
        }

        if (lease.IsEnded)
        {
            return (null, EndedStatus(lease).Detail, lease);
        }

        return (lease, null, null);
    }

    /// <summary>The lease with <paramref name="id"/>: live, ended a moment ago, or remembered as ended for good.</summary>
    private Lease? Find(string id) =>
        _byId.TryGetValue(id, out var lease) ? lease : _endedForGood.TryGetValue(id, out var ended) ? ended : null;

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
        _endedForGood[lease.Id] = lease;
    }

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

        if (await tokens.ValidateAsync(token).ConfigureAwait(false) is not { } claims || Find(claims.LeaseId) is not { } lease)
        {
            return null;
        }

        // Only tokens of live leases are remembered, so the cache is bounded by the leases themselves.
        var validated = new ValidatedToken(claims.LeaseId, claims.Thumbprint, claims.ExpiresAt);
        if (!lease.IsEnded)
        {
            _validated.TryAdd(hash, validated);
        }

        return validated;
    }

    public void Dispose()
    {
        foreach (var lease in _byId.Values)
        {
            lease.End("the broker is stopping", LeaseEndKind.Broker);
            lease.Dispose();
        }
    }

    private sealed record ValidatedToken(string LeaseId, string Thumbprint, DateTimeOffset ExpiresAt);
}
