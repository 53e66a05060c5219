using System.Text.Json;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace GitHubActionsPort.Broker.Leases;

/// <summary>
/// Lease tokens: JWTs the broker signs with its own key, naming the lease, its subject, targets, expiry,
/// connection cap and the thumbprint of the session key (<c>cnf.jkt</c>, RFC 7800) that must sign every use.
/// </summary>
internal sealed class LeaseTokens(LeaseSigningKey signingKey)
{
    private const string Issuer = "ghaport-broker";
    private const string Audience = "ghaport-lease";
    private const int MaxTokenLength = 8 * 1024;

    private readonly JsonWebTokenHandler _handler = new() { MapInboundClaims = false };

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

    /// <summary>The lease id and session-key thumbprint of a token this broker signed and that has not expired; else null.</summary>
    public async Task<(string LeaseId, string Thumbprint, DateTimeOffset ExpiresAt)?> ValidateAsync(string? token)
    {
        if (string.IsNullOrEmpty(token) || token.Length > MaxTokenLength)
        {
            return null;
        }

        var result = await _handler.ValidateTokenAsync(token, new TokenValidationParameters
        {
            ValidIssuer = Issuer,
            ValidAudience = Audience,
            IssuerSigningKey = signingKey.SecurityKey,
            ValidAlgorithms = [SecurityAlgorithms.EcdsaSha256],
            RequireSignedTokens = true,
            RequireExpirationTime = true,
            // The broker checks its own tokens against its own clock.
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
}
