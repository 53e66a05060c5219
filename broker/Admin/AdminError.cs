namespace GitHubActionsPort.Broker.Admin;

/// <summary>The body of every refused admin request.</summary>
internal sealed record AdminError(string Error);
