using GitHubActionsPort.Broker.Auth;
using GitHubActionsPort.Broker.Policy;

namespace GitHubActionsPort.Broker.Admin;

/// <summary>
/// Claim patterns that pick jobs out, for a revocation or a standing block: every pattern must match, as a rule's
/// claims must; a claim the token lacks matches nothing, not even <c>**</c>.
/// </summary>
internal sealed class ClaimSelector
{
    private readonly IReadOnlyDictionary<string, ClaimPattern> _patterns;

    private ClaimSelector(IReadOnlyDictionary<string, ClaimPattern> patterns) => _patterns = patterns;

    /// <summary>Claim name to the pattern's text, as given.</summary>
    public IReadOnlyDictionary<string, string> Text => _patterns.ToDictionary(p => p.Key, p => p.Value.Text, StringComparer.Ordinal);

    public bool Matches(CallerIdentity caller)
    {
        ArgumentNullException.ThrowIfNull(caller);
        return Matches(caller.Claims);
    }

    /// <summary>Matches a caller's string claims as a lease in the store keeps them.</summary>
    public bool Matches(IReadOnlyDictionary<string, string> claims)
    {
        ArgumentNullException.ThrowIfNull(claims);
        return _patterns.All(p => claims.TryGetValue(p.Key, out var value) && p.Value.IsMatch(value));
    }

    /// <summary>Parses <c>name → pattern</c>; at least one claim, every name non-empty, every pattern valid.</summary>
    public static bool TryParse(IReadOnlyDictionary<string, string>? claims, out ClaimSelector? selector, out string? error)
    {
        selector = null;
        if (claims is null || claims.Count == 0)
        {
            error = "name at least one claim to match";
            return false;
        }

        var patterns = new Dictionary<string, ClaimPattern>(StringComparer.Ordinal);
        foreach (var (name, text) in claims)
        {
            if (string.IsNullOrWhiteSpace(name))
            {
                error = "a claim name must not be empty";
                return false;
            }

            if (!ClaimPattern.TryParse(text ?? string.Empty, out var pattern, out var patternError))
            {
                error = $"claim '{name}': {patternError}";
                return false;
            }

            patterns[name] = pattern!;
        }

        selector = new ClaimSelector(patterns);
        error = null;
        return true;
    }

    public override string ToString() => string.Join(' ', _patterns.Select(p => $"{p.Key}={p.Value.Text}"));
}
