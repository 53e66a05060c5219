namespace GitHubActionsPort.Broker.Policy;

/// <summary>Log records of the policy: risky rules at start-up and reload, reloads, and leases a reload ended.</summary>
internal static partial class PolicyLog
{
    [LoggerMessage(101, LogLevel.Warning, "Rule {Rule} ({RuleKey}) {Risk}", EventName = "RuleSpansIssuers")]
    public static partial void RuleSpansIssuers(ILogger logger, string rule, string ruleKey, string risk);

    [LoggerMessage(102, LogLevel.Warning, "Rule {Rule} ({RuleKey}) {Risk}", EventName = "RuleBoundOnlyByOwner")]
    public static partial void RuleBoundOnlyByOwner(ILogger logger, string rule, string ruleKey, string risk);

    [LoggerMessage(103, LogLevel.Warning, "Rule {Rule} ({RuleKey}) {Risk}", EventName = "RuleSubjectWildcard")]
    public static partial void RuleSubjectWildcard(ILogger logger, string rule, string ruleKey, string risk);

    [LoggerMessage(104, LogLevel.Warning, "Rule {Rule} ({RuleKey}) {Risk}", EventName = "RuleBindsNoRepository")]
    public static partial void RuleBindsNoRepository(ILogger logger, string rule, string ruleKey, string risk);

    [LoggerMessage(110, LogLevel.Information, "Policy reloaded: {Rules} rules and {Targets} targets in force for new sessions and tunnels", EventName = "PolicyReloaded")]
    public static partial void PolicyReloaded(ILogger logger, int rules, int targets);

    [LoggerMessage(111, LogLevel.Error, "Policy reload rejected, the policy in force stays: {Errors}", EventName = "PolicyReloadRejected")]
    public static partial void PolicyReloadRejected(ILogger logger, string errors);

    [LoggerMessage(112, LogLevel.Error, "Policy reload rejected, the policy in force stays: configuration file {Path} {Problem}", EventName = "ConfigFileUnusable")]
    public static partial void ConfigFileUnusable(ILogger logger, string path, string problem);

    [LoggerMessage(113, LogLevel.Warning, "{Key} changed in the configuration; the running broker keeps the old value until it restarts", EventName = "RestartRequired")]
    public static partial void RestartRequired(ILogger logger, string key);

    [LoggerMessage(114, LogLevel.Warning, "Lease {LeaseId} ended: the reloaded policy no longer permits {Caller} to reach {Targets}", EventName = "LeaseEndedByPolicy")]
    public static partial void LeaseEndedByPolicy(ILogger logger, string leaseId, string caller, string targets);

    [LoggerMessage(116, LogLevel.Warning, "A policy reload was not recorded in the audit trail: {Reason}", EventName = "PolicyReloadNotAudited")]
    public static partial void PolicyReloadNotAudited(ILogger logger, string reason);

    [LoggerMessage(117, LogLevel.Warning, "Policy reload leaves no rule: every new session will be denied, and every live lease ({Leases}) will end", EventName = "PolicyReloadLeavesNoRule")]
    public static partial void PolicyReloadLeavesNoRule(ILogger logger, int leases);

    [LoggerMessage(118, LogLevel.Warning, "Policy reload ends every live lease: the new policy grants none of the {Leases} live leases", EventName = "PolicyReloadEndsEveryLease")]
    public static partial void PolicyReloadEndsEveryLease(ILogger logger, int leases);

    [LoggerMessage(115, LogLevel.Error, "Policy reload failed, the policy in force stays", EventName = "PolicyReloadFailed")]
    public static partial void PolicyReloadFailed(ILogger logger, Exception exception);

    public static void Risk(ILogger logger, PolicyRisk risk)
    {
        ArgumentNullException.ThrowIfNull(risk);
        var (name, key) = (risk.Rule.Name, risk.Rule.Key);
        switch (risk.Kind)
        {
            case PolicyRiskKind.SpansIssuers:
                RuleSpansIssuers(logger, name, key, risk.Description);
                break;
            case PolicyRiskKind.OwnerOnly:
                RuleBoundOnlyByOwner(logger, name, key, risk.Description);
                break;
            case PolicyRiskKind.SubjectWildcard:
                RuleSubjectWildcard(logger, name, key, risk.Description);
                break;
            default:
                RuleBindsNoRepository(logger, name, key, risk.Description);
                break;
        }
    }
}
