namespace GitHubActionsPort.Agent.Forwarding;

/// <summary>Timings of the agent's connection to the broker; the defaults suit real networks.</summary>
public sealed record AgentTransport
{
    /// <summary>Ping the broker after this much quiet, so NATs and proxies keep an idle tunnel. Default: 30 seconds.</summary>
    public TimeSpan KeepAlivePingDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Give up on a connection whose ping is unanswered this long. Default: 20 seconds.</summary>
    public TimeSpan KeepAlivePingTimeout { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>How long a TCP connect to the broker may take. Default: 10 seconds.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long opening a session may take, token check included. Default: 30 seconds.</summary>
    public TimeSpan SessionTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Initial HTTP/2 receive window per tunnel. Default: 4 MiB. The HTTP stack widens it for fast, distant links
    /// (up to 16 MiB), which bounds what one tunnel can have in flight toward the agent.
    /// </summary>
    public int StreamWindowSize { get; init; } = 4 * 1024 * 1024;

    /// <summary>
    /// HTTP/2 connections tunnels are spread over (<see cref="BrokerChannel.ForTunnel"/>), so a bulk transfer on one
    /// cannot hold up an interactive tunnel on another; each is dialled only once a tunnel needs it. Default: 2.
    /// </summary>
    public int TunnelConnections { get; init; } = 2;
}
