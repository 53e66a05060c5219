using GitHubActionsPort.Broker.Auth;
using GitHubActionsPort.Broker.Configuration;

namespace GitHubActionsPort.Broker.Policy;

/// <summary>
/// One rule judged against one token, check by check: the single place matching is decided, so what
/// <c>policy explain</c> prints is what a session gets.
/// </summary>
internal sealed record RuleEvaluation(
    RuleSettings Rule,
    bool IssuerMatches,
    IReadOnlyList<ClaimCheck> Claims,
    IReadOnlyList<ClaimCheck> NotClaims,
    EventCheck Event)
{
    /// <summary>
    /// The token comes from one of the rule's issuers, every claim the rule lists is a string claim of it matching
    /// one of its patterns, no claim of <c>NotClaims</c> matches, and the event is one the rule admits.
    /// </summary>
    public bool Matches => IssuerMatches && Claims.All(c => c.Matched) && !NotClaims.Any(c => c.Matched) && Event.Admitted;

    public static RuleEvaluation Of(RuleSettings rule, CallerIdentity caller)
    {
        ArgumentNullException.ThrowIfNull(rule);
        ArgumentNullException.ThrowIfNull(caller);
        return new RuleEvaluation(
            rule,
            rule.Issuers.Contains(caller.Issuer, StringComparer.Ordinal),
            Check(rule.Claims, caller),
            Check(rule.NotClaims, caller),
            EventSafety.Check(rule, caller));
    }

    /// <summary>A missing or non-string claim matches no pattern, not even <c>**</c>: it neither admits nor excludes.</summary>
    private static List<ClaimCheck> Check(IReadOnlyDictionary<string, IReadOnlyList<ClaimPattern>> claims, CallerIdentity caller) =>
        claims.Select(claim =>
        {
            var value = caller.Claims.TryGetValue(claim.Key, out var v) ? v : null;
            return new ClaimCheck(claim.Key, value, claim.Value, value is not null && claim.Value.Any(p => p.IsMatch(value)));
        }).ToList();
}
