namespace GitHubActionsPort.Broker.Policy;

/// <summary>The fork and cross-ref event check of one rule against one token.</summary>
/// <param name="EventName">The token's <c>event_name</c>, if any and a string.</param>
/// <param name="Guarded">Whether that event is one a rule must list by name: any not in <see cref="EventSafety.TrustedEvents"/>.</param>
/// <param name="Admitted">Whether the rule admits the event: it is a trusted one, or the rule lists it by name.</param>
/// <param name="NotAString">The token's <c>event_name</c> is there but not a JSON string: never admitted.</param>
internal sealed record EventCheck(string? EventName, bool Guarded, bool Admitted, bool NotAString = false);
