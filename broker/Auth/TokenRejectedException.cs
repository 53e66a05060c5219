namespace GitHubActionsPort.Broker.Auth;

/// <summary>The id-token is not acceptable; the message says why in words the job can act on.</summary>
public sealed class TokenRejectedException(string message) : Exception(message);
