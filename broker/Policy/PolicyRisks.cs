using GitHubActionsPort.Broker.Configuration;

namespace GitHubActionsPort.Broker.Policy;

/// <summary>
/// Finds rules that are valid but likely wider than meant, for a warning at start-up and after each reload (and in
/// <c>policy explain</c>). Deliberately simple: it looks at which claims a rule names, not at what its globs allow.
/// </summary>
internal static class PolicyRisks
{
    /// <summary>Claims naming the organisation or user that owns a repository: wide on their own.</summary>
    private static readonly string[] OwnerClaims = ["repository_owner", "repository_owner_id"];

    /// <summary>Claims that pin a rule to one repository or one workflow file of one.</summary>
    private static readonly string[] RepositoryClaims = ["repository", "repository_id", "sub", "workflow_ref", "job_workflow_ref"];

    public static IReadOnlyList<PolicyRisk> Of(BrokerSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return settings.Rules.SelectMany(Of).ToList();
    }

    public static IEnumerable<PolicyRisk> Of(RuleSettings rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        if (rule.IssuerDefaulted && rule.Issuers.Count > 1)
        {
            yield return new PolicyRisk(rule, PolicyRiskKind.SpansIssuers,
                $"names no Issuer, so it judges the tokens of all {rule.Issuers.Count} configured issuers, and the same claim values can name different owners at each; set {rule.Key}:Issuer");
        }

        var owner = OwnerClaims.Where(rule.Claims.ContainsKey).ToList();
        var pinned = RepositoryClaims.Any(rule.Claims.ContainsKey);
        if (owner.Count > 0 && !pinned)
        {
            yield return new PolicyRisk(rule, PolicyRiskKind.OwnerOnly,
                $"is bound only by {string.Join(" and ", owner)}: every repository of that owner qualifies, including ones created later by anyone allowed to create repositories there; bind repository_id (or job_workflow_ref) too");
        }
        else if (owner.Count == 0 && !pinned)
        {
            yield return new PolicyRisk(rule, PolicyRiskKind.NoRepositoryBinding,
                "binds neither a repository nor an owner: any repository whose tokens the issuer signs can satisfy it; bind repository_id or repository_owner_id");
        }

        if (rule.Claims.TryGetValue("sub", out var subjects) && subjects.FirstOrDefault(p => p.HasWildcard) is { } wildcard)
        {
            yield return new PolicyRisk(rule, PolicyRiskKind.SubjectWildcard,
                $"matches sub with a wildcard ('{wildcard.Text}'): sub's layout differs by event (ref, environment, pull_request) and a repository can customise it, so the wildcard can admit jobs nobody pictured; bind repository_id, ref and environment as claims of their own");
        }
    }
}
