using System.Text.Json;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace GitHubActionsPort.Broker.Auth;

/// <summary>Reads a validated token's payload as JSON, where a claim's type is still visible.</summary>
internal static class TokenPayload
{
    /// <summary>
    /// The claims whose values are JSON strings. Only these take part in policy: a list or a number never matches
    /// a pattern, even a list holding the one right string. A payload naming a claim twice is refused, since
    /// parsers disagree on which of the two counts.
    /// </summary>
    public static Dictionary<string, string> StringClaims(JsonWebToken jwt) => StringClaims(jwt, out _);

    /// <summary>
    /// As <see cref="StringClaims(JsonWebToken)"/>, and the names of the claims that are present but not strings:
    /// a check that lets a missing claim pass (the event guard) must not let a list or a number pass as missing.
    /// </summary>
    public static Dictionary<string, string> StringClaims(JsonWebToken jwt, out HashSet<string> otherClaims)
    {
        ArgumentNullException.ThrowIfNull(jwt);
        var claims = new Dictionary<string, string>(StringComparer.Ordinal);
        otherClaims = new HashSet<string>(StringComparer.Ordinal);
        var names = new HashSet<string>(StringComparer.Ordinal);
        using var payload = JsonDocument.Parse(Base64UrlEncoder.DecodeBytes(jwt.EncodedPayload));
        foreach (var property in payload.RootElement.EnumerateObject())
        {
            if (!names.Add(property.Name))
            {
                throw new TokenRejectedException($"the id-token names the claim {AuditText.Quote(property.Name)} twice");
            }

            if (property.Value.ValueKind == JsonValueKind.String)
            {
                claims[property.Name] = property.Value.GetString()!;
            }
            else
            {
                otherClaims.Add(property.Name);
            }
        }

        return claims;
    }
}
