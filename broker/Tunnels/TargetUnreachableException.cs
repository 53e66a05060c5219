namespace GitHubActionsPort.Broker.Tunnels;

/// <summary>A target could not be connected to; the message says how it failed, for the job's log.</summary>
/// <param name="message">How it failed, to follow "target 'NAME'".</param>
/// <param name="inner">The socket or DNS error, if any.</param>
/// <param name="refused">
/// True when the broker itself refused to dial (the target's name resolved to an address its entry does not
/// allow): a configuration problem, not a passing failure, so retrying will not help.
/// </param>
public sealed class TargetUnreachableException(string message, Exception? inner = null, bool refused = false) : Exception(message, inner)
{
    /// <summary>The broker refused to dial the target; see the constructor.</summary>
    public bool Refused { get; } = refused;
}
