namespace GitHubActionsPort.Agent.Forwarding.RawLane;

/// <summary>
/// The raw lane could not be reached or did not speak the lane's protocol (a firewall, a proxy that passes HTTP/2
/// only, an old broker): a reason to take the gRPC lane under <c>--lane auto</c>, not a refusal by the broker.
/// </summary>
public sealed class RawLaneUnreachableException(string message, Exception? inner = null) : Exception(message, inner);
