namespace GitHubActionsPort.Broker.Policy;

/// <summary>How one claim of a rule fared against one token.</summary>
/// <param name="Claim">The claim's name.</param>
/// <param name="Value">The token's string value of it; null when the token lacks it or it is not a JSON string.</param>
/// <param name="Patterns">The rule's patterns for it.</param>
/// <param name="Matched">Whether the value matches one of the patterns (never for a null value).</param>
internal sealed record ClaimCheck(string Claim, string? Value, IReadOnlyList<ClaimPattern> Patterns, bool Matched);
