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
    /// The live lease a lease-bearing call stands for, or why not. The answer for an unknown, forged, edited or
    /// expired token is the same, so the caller learns nothing about which.
    /// </summary>
    public async Task<(Lease? Lease, string? Failure)> AuthenticateAsync(string? token, string? proof, string method, string target)
    {
        var valid = await ValidateAsync(token).ConfigureAwait(false);
        if (valid is null || !_byId.TryGetValue(valid.LeaseId, out var lease) || lease.IsEnded)
        {
            return (null, WireLimits.LeaseUnknownDetail + "; open a new session");
        }

        if (!string.Equals(valid.Thumbprint, lease.SessionKeyThumbprint, StringComparison.Ordinal))
        {
            return (null, "the lease token does not belong to this lease's session key");
        }

        if (!LeaseProof.TryParse(proof, out var unixMs, out var nonce, out var signature))
        {
            return (null, $"a lease-bearing call needs a valid '{LeaseProof.Header}' header signed with the session key");
        }

        var proofTime = DateTimeOffset.FromUnixTimeMilliseconds(unixMs);
        if ((proofTime - time.GetUtcNow()).Duration() > LeaseProof.MaxClockDifference)
        {
            return (null, "the proof of possession is stale or from the future; check the runner's clock");
        }

        if (!lease.SessionKey.VerifyData(LeaseProof.SignedBytes(method, lease.Id, target, unixMs, nonce), signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation))
        {
            return (null, "the proof of possession does not verify with the lease's session key");
        }

        switch (lease.TryUseProofNonce(nonce, proofTime))
        {
            case ProofNonceUse.Replayed:
                return (null, "the proof of possession was already used");
            case ProofNonceUse.TooMany:
                return (null, $"lease {lease.Id} made more than {Lease.MaxRememberedProofs} lease-bearing calls (tunnels, raw-lane connections) in the last two minutes; wait and try again");
        }

        return (lease, null);
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

        if (await tokens.ValidateAsync(token).ConfigureAwait(false) is not { } claims || !_byId.TryGetValue(claims.LeaseId, out var lease))
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
            lease.End("the broker is stopping");
            lease.Dispose();
        }
    }

    private sealed record ValidatedToken(string LeaseId, string Thumbprint, DateTimeOffset ExpiresAt);
}
