namespace GitHubActionsPort.Broker.Audit;

/// <summary>
/// One event for the audit trail: its type (<c>session.granted</c>, <c>tunnel.opened</c>, ...) and its fields.
/// Field values are the broker's own words and identifiers, never a token.
/// </summary>
public sealed record AuditRecord(string Type, IReadOnlyDictionary<string, object?> Fields);
