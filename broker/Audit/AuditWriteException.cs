namespace GitHubActionsPort.Broker.Audit;

/// <summary>The audit trail could not be written; whatever needed the record must not happen (fail closed).</summary>
public sealed class AuditWriteException(string message, Exception? inner = null) : Exception(message, inner);
