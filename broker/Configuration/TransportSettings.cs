namespace GitHubActionsPort.Broker.Configuration;

/// <summary>HTTP/2 and dialing settings (<c>Broker:Transport</c>).</summary>
public sealed record TransportSettings
{
    /// <summary>How long a target has to accept a connection. Default: 10 seconds.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// HTTP/2 connection receive window. Default: 16 MiB. With Kestrel's 1 MiB default, eight busy tunnels on one
    /// connection fell to a tenth of one tunnel's throughput.
    /// </summary>
    public int ConnectionWindowSize { get; init; } = 16 * 1024 * 1024;

    /// <summary>HTTP/2 stream receive window: the most one tunnel buffers upstream. Default: 4 MiB.</summary>
    public int StreamWindowSize { get; init; } = 4 * 1024 * 1024;

    /// <summary>Concurrent tunnels per HTTP/2 connection; the agent opens more connections past it. Default: 100.</summary>
    public int MaxStreamsPerConnection { get; init; } = 100;

    /// <summary>Ping an HTTP/2 connection that has been quiet this long. Default: 30 seconds.</summary>
    public TimeSpan KeepAlivePingDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Close a connection whose ping is unanswered this long. Default: 20 seconds.</summary>
    public TimeSpan KeepAlivePingTimeout { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>Tunnels open at once across all leases. Default: 10,000.</summary>
    public int MaxTunnels { get; init; } = 10_000;

    /// <summary>
    /// TCP connections to the broker at once (its gRPC port and raw lane together), authenticated or not. Default:
    /// 10,000. At the limit the oldest connection that has not yet proven itself is closed to make room; an agent's
    /// connection, once proven, is never closed for it.
    /// </summary>
    public int MaxConnections { get; init; } = 10_000;

    /// <summary>
    /// How long a new connection has to prove itself, TLS handshake included: a session granted or a lease shown on
    /// the gRPC port, a Hello accepted on the raw lane. Default: 10 seconds. One still waiting for an answer to its
    /// request gets <see cref="SessionTimeout"/> more.
    /// </summary>
    public TimeSpan ProveTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Connections not yet proven from one address (an IPv6 /64) at once, once the broker holds half of
    /// <see cref="MaxConnections"/>; past it that address's oldest one is closed to make room. Below half nobody is
    /// short of room, and an agent's own burst of raw-lane handshakes is left alone. Default: 64.
    /// </summary>
    public int MaxUnprovenPerSource { get; init; } = 64;

    /// <summary>
    /// Rejected id-tokens one address (an IPv6 /64) may present per <see cref="SessionFailureWindow"/> before its
    /// OpenSession calls are refused unread (ResourceExhausted) until the window lets more. Default: 60.
    /// </summary>
    public int MaxSessionFailuresPerSource { get; init; } = 60;

    /// <summary>The window of <see cref="MaxSessionFailuresPerSource"/> (a bucket refilled over it). Default: 1 minute.</summary>
    public TimeSpan SessionFailureWindow { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>How long opening a session may take, id-token check and key fetch included. Default: 30 seconds.</summary>
    public TimeSpan SessionTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Close a connection with no open tunnels after this long. Default: 2 minutes.</summary>
    public TimeSpan IdleConnectionTimeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// How long a stopping broker (SIGTERM, a service stop) lets its open tunnels run on while it refuses new ones
    /// and sends agents elsewhere; those still open then are ended with "the broker is stopping". Zero ends them at
    /// once. Default: 30 seconds. The host's shutdown timeout is raised past it; a service manager's stop timeout
    /// (systemd <c>TimeoutStopSec</c>) must allow it too.
    /// </summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(30);
}
