using GitHubActionsPort.Protocol.V1;

namespace GitHubActionsPort.Agent.Forwarding.Failover;

/// <summary>
/// The broker in use when a call began: its endpoint, its channel (null for a route made around a lone client) and a
/// client for control calls. <see cref="Generation"/> tells <see cref="BrokerRoute.Fail"/> whether the failure it
/// hears is news or the route has moved on since.
/// </summary>
internal sealed record BrokerLink(int Index, long Generation, BrokerEndpoint Endpoint, BrokerChannel? Channel, Broker.BrokerClient Client);
