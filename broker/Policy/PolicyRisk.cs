using GitHubActionsPort.Broker.Configuration;

namespace GitHubActionsPort.Broker.Policy;

/// <summary>A start-up warning about one rule: what it admits that its author may not have meant, and what to do.</summary>
internal sealed record PolicyRisk(RuleSettings Rule, PolicyRiskKind Kind, string Description);
