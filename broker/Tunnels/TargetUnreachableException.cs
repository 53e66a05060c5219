namespace GitHubActionsPort.Broker.Tunnels;

/// <summary>A target could not be connected to; the message says how it failed, for the job's log.</summary>
public sealed class TargetUnreachableException(string message, Exception? inner = null) : Exception(message, inner);
