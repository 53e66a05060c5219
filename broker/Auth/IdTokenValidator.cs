using System.Text.Json;
using GitHubActionsPort.Broker.Configuration;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace GitHubActionsPort.Broker.Auth;

/// <summary>
/// Turns an OIDC id-token into a <see cref="CallerIdentity"/>, or a rejection that says why. Stricter than the
/// library's defaults: signature required, RS256/RS384/RS512/ES256/ES384 only, keys only from the issuer's JWKS
/// (never from the token's <c>jwk</c>, <c>jku</c>, <c>x5u</c> or <c>x5c</c>), one minute of clock skew, audiences
/// compared exactly, the issuer chosen from configuration (the token's own <c>iss</c> only selects among
/// configured issuers, it never builds a URL).
/// </summary>
internal sealed class IdTokenValidator
{
    /// <summary>A GitHub id-token is about 1.5 KiB; anything near this is not one.</summary>
    public const int MaxTokenLength = 16 * 1024;

    public const string HttpClientName = "oidc";

    private static readonly TimeSpan ClockSkew = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan MaxTokenLifetime = TimeSpan.FromHours(1);

    /// <summary>
    /// Asymmetric only, so no key of the JWKS can double as an HMAC secret; no PS* (GitHub signs RS256, and every
    /// algorithm accepted is one more way in); no ES512, whose P-521 no mainstream OIDC issuer uses.
    /// </summary>
    private static readonly string[] AllowedAlgorithms =
    [
        SecurityAlgorithms.RsaSha256, SecurityAlgorithms.RsaSha384, SecurityAlgorithms.RsaSha512,
        SecurityAlgorithms.EcdsaSha256, SecurityAlgorithms.EcdsaSha384,
    ];

    private static readonly string AllowedAlgorithmList = string.Join(", ", AllowedAlgorithms);

    /// <summary>The claims an audit line names a refused token by.</summary>
    private static readonly string[] IdentifyingClaims = ["iss", "sub", "jti"];

    private readonly JsonWebTokenHandler _handler = new() { MapInboundClaims = false };
    private readonly Dictionary<string, IssuerKeys> _issuers;
    private readonly TokenReplayGuard _replays;
    private readonly TimeProvider _time;

    public IdTokenValidator(BrokerSettings settings, IHttpClientFactory httpClients, TokenReplayGuard replays, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(httpClients);
        _time = time;
        _replays = replays;
        _issuers = settings.Issuers.ToDictionary(
            i => i.Issuer,
            i => new IssuerKeys(i, httpClients.CreateClient(HttpClientName), time),
            StringComparer.Ordinal);
    }

    /// <summary>Every configured issuer's keys, for the start-up prefetch.</summary>
    public IEnumerable<IssuerKeys> Issuers => _issuers.Values;

    /// <summary>Checks an id-token and spends its single use: a second call with the same token, at any instance, is refused.</summary>
    public Task<CallerIdentity> ValidateAsync(string token, CancellationToken cancellationToken) =>
        ValidateAsync(token, spendSingleUse: true, cancellationToken);

    /// <summary>
    /// Checks an id-token as <see cref="ValidateAsync(string, CancellationToken)"/> does but leaves its single use
    /// unspent: <c>policy explain</c> judges a job's token without burning it (or touching the state store).
    /// </summary>
    public Task<CallerIdentity> CheckWithoutSpendingAsync(string token, CancellationToken cancellationToken) =>
        ValidateAsync(token, spendSingleUse: false, cancellationToken);

    private async Task<CallerIdentity> ValidateAsync(string token, bool spendSingleUse, CancellationToken cancellationToken)
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

        try
        {
            return await ValidateAsync(token, unverified, spendSingleUse, cancellationToken).ConfigureAwait(false);
        }
        catch (TokenRejectedException ex) when (ex.Claimed is null)
        {
            // Every refusal of a readable token names it, so an audit can tell one caller's attempts from another's.
            throw new TokenRejectedException(ex.Reason, Claimed(unverified));
        }
    }

    private async Task<CallerIdentity> ValidateAsync(string token, JsonWebToken unverified, bool spendSingleUse, CancellationToken cancellationToken)
    {
        TokenStructure.Check(unverified);
        if (!_issuers.TryGetValue(unverified.Issuer ?? string.Empty, out var issuer))
        {
            throw new TokenRejectedException("the id-token's issuer is not one this broker trusts");
        }

        // Checked before the signature so the answer is precise; the signature check enforces it again.
        if (!AllowedAlgorithms.Contains(unverified.Alg, StringComparer.Ordinal))
        {
            throw new TokenRejectedException($"the id-token is signed with an algorithm this broker does not accept ({AllowedAlgorithmList})");
        }

        // Without a kid the only way to find the key is to try each in turn, which the validator never does.
        if (string.IsNullOrEmpty(unverified.Kid))
        {
            throw new TokenRejectedException("the id-token does not name its signing key ('kid')");
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
        var claims = TokenPayload.StringClaims(jwt, out var nonStringClaims);
        if (!claims.TryGetValue("jti", out var tokenId) || tokenId.Length == 0)
        {
            throw new TokenRejectedException("the id-token has no 'jti' claim");
        }

        // Last, once everything else passed: a token refused for another reason is not spent. A store that cannot be
        // reached throws StoreUnavailableException, which the caller answers as unavailable (the token may be fine).
        if (spendSingleUse && !await _replays.TryUseAsync(issuer.Issuer.Issuer, tokenId, new DateTimeOffset(jwt.ValidTo, TimeSpan.Zero) + ClockSkew, cancellationToken).ConfigureAwait(false))
        {
            throw new TokenRejectedException("the id-token was already used to open a session; request a fresh one");
        }

        return new CallerIdentity(issuer.Issuer.Issuer, jwt.Subject ?? string.Empty, tokenId, jwt.ValidTo, claims, nonStringClaims);
    }

    private static TokenValidationParameters Parameters(IssuerSettings issuer, IReadOnlyList<SecurityKey> keys) => new()
    {
        ValidIssuer = issuer.Issuer,
        ValidAudiences = issuer.Audiences,
        IssuerSigningKeys = keys,
        ValidAlgorithms = AllowedAlgorithms,
        ValidateIssuer = true,
        ValidateAudience = true,
        // The library's default treats "ghaport/" as "ghaport": an audience is an exact string (RFC 7519 §4.1.3).
        IgnoreTrailingSlashWhenValidatingAudience = false,
        IgnoreCaseWhenValidatingAudience = false,
        ValidateLifetime = true,
        RequireExpirationTime = true,
        RequireSignedTokens = true,
        // The library's default of five minutes would more than double a GitHub token's life.
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

    /// <summary>Who a readable token says it is, for the audit line: never the token, never unbounded text.</summary>
    private static string? Claimed(JsonWebToken unverified)
    {
        var parts = new List<string>(3);
        foreach (var name in IdentifyingClaims)
        {
            if (unverified.TryGetPayloadValue<string>(name, out var value) && value is not null)
            {
                parts.Add($"{name}={AuditText.Quote(value)}");
            }
        }

        return parts.Count == 0 ? null : string.Join(", ", parts);
    }

    private static string Explain(Exception? error, IssuerSettings issuer) => error switch
    {
        SecurityTokenExpiredException e => $"the id-token expired at {e.Expires:u}; request a fresh one",
        SecurityTokenNotYetValidException => "the id-token is not valid yet; check the clocks",
        SecurityTokenInvalidAudienceException => $"the id-token's audience is not accepted; request it with audience '{issuer.Audiences[0]}' (--audience)",
        SecurityTokenInvalidIssuerException => "the id-token's issuer is not one this broker trusts",
        SecurityTokenInvalidAlgorithmException => $"the id-token is signed with an algorithm this broker does not accept ({AllowedAlgorithmList})",
        SecurityTokenSignatureKeyNotFoundException => "the id-token is signed with a key its issuer does not publish",
        SecurityTokenInvalidSignatureException => "the id-token's signature does not verify",
        SecurityTokenNoExpirationException => "the id-token has no expiry",
        _ => "the id-token is not valid",
    };
}
