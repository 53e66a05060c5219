using System.Text.Json;
using GitHubActionsPort.Broker.Configuration;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace GitHubActionsPort.Broker.Auth;

/// <summary>
/// Turns an OIDC id-token into a <see cref="CallerIdentity"/>, or a rejection that says why. Stricter than the
/// library's defaults: signature required, RS256 and ES256 only, one minute of clock skew, the issuer chosen
/// from configuration (the token's own <c>iss</c> only selects among configured issuers, it never builds a URL).
/// </summary>
internal sealed class IdTokenValidator
{
    /// <summary>A GitHub id-token is about 1.5 KiB; anything near this is not one.</summary>
    public const int MaxTokenLength = 16 * 1024;

    private static readonly TimeSpan ClockSkew = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan MaxTokenLifetime = TimeSpan.FromHours(1);
    private static readonly string[] AllowedAlgorithms = [SecurityAlgorithms.RsaSha256, SecurityAlgorithms.EcdsaSha256];

    private readonly JsonWebTokenHandler _handler = new() { MapInboundClaims = false };
    private readonly Dictionary<string, IssuerKeys> _issuers;
    private readonly TokenReplayGuard _replays;
    private readonly TimeProvider _time;

    public IdTokenValidator(BrokerSettings settings, IHttpClientFactory httpClients, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(httpClients);
        _time = time;
        _replays = new TokenReplayGuard(time);
        _issuers = settings.Issuers.ToDictionary(
            i => i.Issuer,
            i => new IssuerKeys(i, httpClients.CreateClient(HttpClientName), time),
            StringComparer.Ordinal);
    }

    public const string HttpClientName = "oidc";

    public async Task<CallerIdentity> ValidateAsync(string token, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(token))
        {
            throw new TokenRejectedException("no id-token was sent");
        }

        if (token.Length > MaxTokenLength)
        {
            throw new TokenRejectedException($"the id-token is larger than {MaxTokenLength / 1024} KiB");
        }

        JsonWebToken unverified;
        try
        {
            unverified = _handler.ReadJsonWebToken(token);
        }
        catch (Exception ex) when (ex is ArgumentException or SecurityTokenException or JsonException)
        {
            throw new TokenRejectedException("the id-token is not a well-formed JWT");
        }

        if (!_issuers.TryGetValue(unverified.Issuer ?? string.Empty, out var issuer))
        {
            throw new TokenRejectedException("the id-token's issuer is not one this broker trusts");
        }

        // Checked before the signature so the answer is precise; the signature check enforces it again.
        if (!AllowedAlgorithms.Contains(unverified.Alg, StringComparer.Ordinal))
        {
            throw new TokenRejectedException($"the id-token is signed with an algorithm this broker does not accept ({string.Join(", ", AllowedAlgorithms)})");
        }

        var keys = await issuer.GetAsync(unknownKeySeen: false, cancellationToken).ConfigureAwait(false);
        var result = await _handler.ValidateTokenAsync(token, Parameters(issuer.Issuer, keys)).ConfigureAwait(false);
        if (!result.IsValid && result.Exception is SecurityTokenSignatureKeyNotFoundException)
        {
            keys = await issuer.GetAsync(unknownKeySeen: true, cancellationToken).ConfigureAwait(false);
            result = await _handler.ValidateTokenAsync(token, Parameters(issuer.Issuer, keys)).ConfigureAwait(false);
        }

        if (!result.IsValid)
        {
            throw new TokenRejectedException(Explain(result.Exception, issuer.Issuer));
        }

        var jwt = (JsonWebToken)result.SecurityToken;
        CheckIssuedAt(jwt);
        var claims = TokenPayload.StringClaims(jwt);
        if (!claims.TryGetValue("jti", out var tokenId) || tokenId.Length == 0)
        {
            throw new TokenRejectedException("the id-token has no 'jti' claim");
        }

        if (!_replays.TryUse(issuer.Issuer.Issuer, tokenId, new DateTimeOffset(jwt.ValidTo, TimeSpan.Zero) + ClockSkew))
        {
            throw new TokenRejectedException("the id-token was already used to open a session; request a fresh one");
        }

        return new CallerIdentity(issuer.Issuer.Issuer, jwt.Subject ?? string.Empty, tokenId, jwt.ValidTo, claims);
    }

    private static TokenValidationParameters Parameters(IssuerSettings issuer, IReadOnlyList<SecurityKey> keys) => new()
    {
        ValidIssuer = issuer.Issuer,
        ValidAudiences = issuer.Audiences,
        IssuerSigningKeys = keys,
        ValidAlgorithms = AllowedAlgorithms,
        ValidateIssuer = true,
        ValidateAudience = true,
        ValidateLifetime = true,
        RequireExpirationTime = true,
        RequireSignedTokens = true,
        ClockSkew = ClockSkew,
        // A token must name its key (kid); the validator does not try every key of the issuer in turn.
        TryAllIssuerSigningKeys = false,
    };

    /// <summary>The library checks neither: a token from the future, or one meant to live for days.</summary>
    private void CheckIssuedAt(JsonWebToken jwt)
    {
        if (!jwt.TryGetPayloadValue<long>("iat", out var iatSeconds))
        {
            throw new TokenRejectedException("the id-token has no 'iat' claim");
        }

        var issuedAt = DateTimeOffset.FromUnixTimeSeconds(iatSeconds);
        if (issuedAt > _time.GetUtcNow() + ClockSkew)
        {
            throw new TokenRejectedException("the id-token was issued in the future; check the clocks");
        }

        if (jwt.ValidTo - issuedAt.UtcDateTime > MaxTokenLifetime)
        {
            throw new TokenRejectedException($"the id-token lives longer than {MaxTokenLifetime.TotalMinutes:0} minutes");
        }
    }

    private static string Explain(Exception? error, IssuerSettings issuer) => error switch
    {
        SecurityTokenExpiredException e => $"the id-token expired at {e.Expires:u}; request a fresh one",
        SecurityTokenNotYetValidException => "the id-token is not valid yet; check the clocks",
        SecurityTokenInvalidAudienceException => $"the id-token's audience is not accepted; request it with audience '{issuer.Audiences[0]}' (--audience)",
        SecurityTokenInvalidIssuerException => "the id-token's issuer is not one this broker trusts",
        SecurityTokenInvalidAlgorithmException => "the id-token is signed with an algorithm this broker does not accept (RS256, ES256)",
        SecurityTokenSignatureKeyNotFoundException => "the id-token is signed with a key its issuer does not publish",
        SecurityTokenInvalidSignatureException => "the id-token's signature does not verify",
        SecurityTokenNoExpirationException => "the id-token has no expiry",
        _ => "the id-token is not valid",
    };
}
