namespace GitHubActionsPort.Broker.Policy;

/// <summary>The fork and cross-ref event check of one rule against one token.</summary>
/// <param name="EventName">The token's <c>event_name</c>, if any.</param>
/// <param name="Guarded">Whether that event is one a rule must list literally (<see cref="EventSafety.GuardedEvents"/>).</param>
/// <param name="Admitted">Whether the rule admits the event: it is not guarded, or the rule lists it literally.</param>
internal sealed record EventCheck(string? EventName, bool Guarded, bool Admitted);
