using System.Text.Json;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace GitHubActionsPort.Broker.Auth;

/// <summary>
/// Checks a token's header and payload as JSON before any of it is trusted, where the library is lenient: it
/// takes the last of two same-named members (so <c>{"alg":"none","alg":"RS256"}</c> reads as RS256 to it and as
/// none to a parser that keeps the first), ignores bytes after the object, and honours neither <c>crit</c> nor
/// <c>b64</c> (RFC 7515 §4.1.11, RFC 7797), so a token relying on either would be read differently than its signer meant.
/// </summary>
internal static class TokenStructure
{
    private static readonly JsonDocumentOptions Strict = new() { AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow, MaxDepth = 16 };

    public static void Check(JsonWebToken unverified)
    {
        ArgumentNullException.ThrowIfNull(unverified);
        if (unverified.IsEncrypted)
        {
            throw new TokenRejectedException("the id-token is encrypted (JWE); send the signed id-token the issuer gave the job");
        }

        foreach (var name in MemberNames(unverified.EncodedHeader, "header"))
        {
            if (name is "crit" or "b64")
            {
                // Whatever "crit" lists, this broker understands no extension, and RFC 7515 says to refuse then.
                throw new TokenRejectedException($"the id-token's header carries '{name}', which this broker does not accept");
            }
        }

        _ = MemberNames(unverified.EncodedPayload, "payload");
    }

    /// <summary>The members of a segment that must be exactly one JSON object, each name once.</summary>
    private static HashSet<string> MemberNames(string segment, string part)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            using var json = JsonDocument.Parse(Base64UrlEncoder.DecodeBytes(segment), Strict);
            if (json.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new TokenRejectedException($"the id-token's {part} is not a JSON object");
            }

            foreach (var member in json.RootElement.EnumerateObject())
            {
                if (!names.Add(member.Name))
                {
                    throw new TokenRejectedException($"the id-token's {part} names {AuditText.Quote(member.Name)} twice");
                }
            }
        }
        catch (Exception ex) when (ex is JsonException or FormatException or ArgumentException)
        {
            throw new TokenRejectedException("the id-token is not a well-formed JWT");
        }

        return names;
    }
}
