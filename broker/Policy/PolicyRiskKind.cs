namespace GitHubActionsPort.Broker.Policy;

/// <summary>A way a valid rule can admit more than its author meant.</summary>
internal enum PolicyRiskKind
{
    /// <summary>No <c>Issuer</c>, and several are configured: one claim value names different owners at each.</summary>
    SpansIssuers,

    /// <summary>Bound to an owner (organisation or user) only: every repository there, present or future, qualifies.</summary>
    OwnerOnly,

    /// <summary>A wildcard in <c>sub</c>, whose layout varies by event and can be customised per repository.</summary>
    SubjectWildcard,

    /// <summary>Bound to no repository and no owner: any repository at the issuer may qualify.</summary>
    NoRepositoryBinding,
}
