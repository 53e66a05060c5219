using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json;
using GitHubActionsPort.Broker.Store;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace GitHubActionsPort.Broker.Leases;

/// <summary>
/// Lease tokens: JWTs the broker signs with its own key, naming the lease, its subject, targets, expiry,
/// connection cap and the thumbprint of the session key (<c>cnf.jkt</c>, RFC 7800) that must sign every use. A
/// token is accepted when its <c>kid</c> names this instance's key or one another instance published in the store.
/// </summary>
internal sealed class LeaseTokens(LeaseSigningKey signingKey, IBrokerStore store, TimeProvider time)
{
    private const string Issuer = "ghaport-broker";
    private const string Audience = "ghaport-lease";
    private const int MaxTokenLength = 8 * 1024;

    /// <summary>Key ids remembered as unknown at most: any caller can name one, so their memory is bounded (then forgotten at once).</summary>
    private const int MaxUnknownKeys = 1024;

    private readonly JsonWebTokenHandler _handler = new() { MapInboundClaims = false };

    /// <summary>
    /// Other instances' keys by kid, read from the store once each: a key is never replaced under its kid (it is the
    /// key's own thumbprint), so a copy never goes stale. Null for a kid the store does not hold.
    /// </summary>
    private readonly ConcurrentDictionary<string, SecurityKey?> _published = new(StringComparer.Ordinal);

    /// <summary>
    /// Store reads for kids this instance has not seen, per second, with a burst of <see cref="UnknownKeyLookupBurst"/>:
    /// anyone can name a well-formed kid, and each would otherwise cost a read of the shared store. Instances publish
    /// their key before they grant, so a real kid is read once and then known; past the bound an unseen kid is refused
    /// unread (the caller's lease-bearing call fails as with any unknown token).
    /// </summary>
    internal const double UnknownKeyLookupsPerSecond = 10;

    internal const double UnknownKeyLookupBurst = 20;

    private readonly Lock _lookups = new();
    private double _lookupAllowance = UnknownKeyLookupBurst;
    private DateTimeOffset _lookupsRefilledAt = time.GetUtcNow();
    private int _unknown;

    public string Issue(Lease lease)
    {
        ArgumentNullException.ThrowIfNull(lease);
        return _handler.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Issuer,
            Audience = Audience,
            IssuedAt = lease.GrantedAt.UtcDateTime,
            NotBefore = lease.GrantedAt.UtcDateTime,
            Expires = lease.ExpiresAt.UtcDateTime,
            Claims = new Dictionary<string, object>
            {
                [JwtRegisteredClaimNames.Jti] = lease.Id,
                [JwtRegisteredClaimNames.Sub] = lease.Caller.Subject,
                ["targets"] = lease.Targets.Order(StringComparer.Ordinal).ToArray(),
                ["max_conn"] = lease.MaxConnections,
                ["cnf"] = new Dictionary<string, object> { ["jkt"] = lease.SessionKeyThumbprint },
            },
            SigningCredentials = new SigningCredentials(signingKey.SecurityKey, SecurityAlgorithms.EcdsaSha256),
        });
    }

    /// <summary>
    /// The lease id and session-key thumbprint of a token a live instance signed and that has not expired; else null.
    /// Throws <see cref="StoreUnavailableException"/> when the signer's key had to be read from a store out of reach.
    /// </summary>
    public async Task<(string LeaseId, string Thumbprint, DateTimeOffset ExpiresAt)?> ValidateAsync(string? token)
    {
        if (string.IsNullOrEmpty(token) || token.Length > MaxTokenLength || await SigningKeyOfAsync(token).ConfigureAwait(false) is not { } key)
        {
            return null;
        }

        var result = await _handler.ValidateTokenAsync(token, new TokenValidationParameters
        {
            ValidIssuer = Issuer,
            ValidAudience = Audience,
            IssuerSigningKey = key,
            ValidAlgorithms = [SecurityAlgorithms.EcdsaSha256],
            RequireSignedTokens = true,
            RequireExpirationTime = true,
            // Instances keep NTP time, as the store's expiry times already require.
            ClockSkew = TimeSpan.Zero,
        }).ConfigureAwait(false);

        if (!result.IsValid || result.SecurityToken is not JsonWebToken jwt || string.IsNullOrEmpty(jwt.Id))
        {
            return null;
        }

        using var payload = JsonDocument.Parse(Base64UrlEncoder.DecodeBytes(jwt.EncodedPayload));
        return payload.RootElement.TryGetProperty("cnf", out var cnf)
            && cnf.ValueKind == JsonValueKind.Object
            && cnf.TryGetProperty("jkt", out var jkt)
            && jkt.ValueKind == JsonValueKind.String
                ? (jwt.Id, jkt.GetString()!, new DateTimeOffset(jwt.ValidTo, TimeSpan.Zero))
                : null;
    }

    /// <summary>The key the token's header names (its <c>kid</c>): this instance's, or a published one; null when none.</summary>
    private async Task<SecurityKey?> SigningKeyOfAsync(string token)
    {
        string kid;
        try
        {
            kid = new JsonWebToken(token).Kid;
        }
        catch (ArgumentException)
        {
            // Not a JWT at all (SecurityTokenMalformedException is one).
            return null;
        }

        if (string.Equals(kid, signingKey.KeyId, StringComparison.Ordinal))
        {
            return signingKey.SecurityKey;
        }

        // A thumbprint is 43 base64url characters: anything else is no key of ours, and not worth a store read.
        if (kid is not { Length: 43 } || !kid.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
        {
            return null;
        }

        if (_published.TryGetValue(kid, out var known))
        {
            return known;
        }

        if (!TryTakeLookup())
        {
            return null;
        }

        var published = await store.FindSigningKeyAsync(kid, CancellationToken.None).ConfigureAwait(false);
        var key = published is null ? null : Import(published);
        if (key is null && Interlocked.Increment(ref _unknown) > MaxUnknownKeys)
        {
            foreach (var (id, value) in _published)
            {
                if (value is null)
                {
                    _published.TryRemove(id, out _);
                }
            }

            Interlocked.Exchange(ref _unknown, 0);
        }

        return _published.GetOrAdd(kid, key);
    }

    /// <summary>Takes one store read for an unseen kid from the allowance; false when it is spent.</summary>
    private bool TryTakeLookup()
    {
        lock (_lookups)
        {
            // A clock stepped back refills nothing.
            var now = time.GetUtcNow();
            var elapsed = Math.Max(0, (now - _lookupsRefilledAt).TotalSeconds);
            _lookupAllowance = Math.Min(UnknownKeyLookupBurst, _lookupAllowance + (elapsed * UnknownKeyLookupsPerSecond));
            _lookupsRefilledAt = now;
            if (_lookupAllowance < 1)
            {
                return false;
            }

            _lookupAllowance--;
            return true;
        }
    }

    /// <summary>A published public key, provided its thumbprint is the kid it was published under; else null.</summary>
    private static ECDsaSecurityKey? Import(SigningKeyRecord published)
    {
        var ecdsa = ECDsa.Create();
        try
        {
            ecdsa.ImportSubjectPublicKeyInfo(published.PublicKey, out _);
            var key = new ECDsaSecurityKey(ecdsa) { CryptoProviderFactory = new CryptoProviderFactory() };
            if (ecdsa.KeySize != 256 || Base64UrlEncoder.Encode(key.ComputeJwkThumbprint()) != published.KeyId)
            {
                ecdsa.Dispose();
                return null;
            }

            key.KeyId = published.KeyId;
            return key;
        }
        catch (CryptographicException)
        {
            ecdsa.Dispose();
            return null;
        }
    }
}
