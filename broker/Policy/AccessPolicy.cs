using System.Diagnostics.CodeAnalysis;
using GitHubActionsPort.Broker.Auth;
using GitHubActionsPort.Broker.Configuration;

namespace GitHubActionsPort.Broker.Policy;

/// <summary>
/// Deny by default: a target is reachable only through a rule whose every check passes for the caller's token
/// (<see cref="RuleEvaluation"/>). A request is granted whole or denied whole. Decisions use the policy in force
/// (<see cref="PolicyStore"/>), which a configuration reload may replace between two calls.
/// </summary>
internal sealed class AccessPolicy(PolicyStore store)
{
    /// <summary>Most targets one session may ask for.</summary>
    public const int MaxTargetsPerSession = 32;

    public AccessDecision Decide(CallerIdentity caller, IReadOnlyCollection<string> targets, TimeSpan? requestedTtl)
    {
        ArgumentNullException.ThrowIfNull(caller);
        ArgumentNullException.ThrowIfNull(targets);

        var settings = store.Current;
        var matching = settings.Rules.Where(rule => Matches(rule, caller)).ToList();
        var ttlCap = settings.Leases.MaxTtl;
        var maxConnections = int.MaxValue;
        var granting = new List<string>();

        foreach (var target in targets)
        {
            var rules = matching.Where(rule => rule.Targets.Contains(target, StringComparer.Ordinal)).ToList();
            if (rules.Count == 0)
            {
                // Unknown and forbidden targets get the same answer, so the reply reveals nothing of the policy.
                return AccessDecision.Deny($"target '{target}' is not permitted for {caller.Describe()}");
            }

            // Several rules may open one target; the most generous of them applies to it.
            ttlCap = Min(ttlCap, rules.Max(r => r.MaxTtl ?? settings.Leases.MaxTtl));
            maxConnections = Math.Min(maxConnections, rules.Max(r => r.MaxConnections));
            granting.AddRange(rules.Select(r => r.Name).Where(n => !granting.Contains(n)));
        }

        if (granting.Count == 0)
        {
            return AccessDecision.Deny($"no target was requested by {caller.Describe()}");
        }

        var ttl = Min(requestedTtl ?? settings.Leases.DefaultTtl, ttlCap);
        return new AccessDecision(true, null, ttl, maxConnections, granting);
    }

    /// <summary>Where a target lives, by the policy now in force: the broker alone maps names to addresses.</summary>
    public bool TryGetTarget(string name, [NotNullWhen(true)] out TargetAddress? address) =>
        store.Current.Targets.TryGetValue(name, out address);

    /// <summary>Whether <paramref name="rule"/> admits <paramref name="caller"/>; see <see cref="RuleEvaluation.Matches"/>.</summary>
    public static bool Matches(RuleSettings rule, CallerIdentity caller) => RuleEvaluation.Of(rule, caller).Matches;

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}
