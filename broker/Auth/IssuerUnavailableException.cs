namespace GitHubActionsPort.Broker.Auth;

/// <summary>The issuer's signing keys could not be fetched, so no token of it can be checked (the job is not at fault).</summary>
public sealed class IssuerUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
