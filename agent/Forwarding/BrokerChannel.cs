using GitHubActionsPort.Protocol;
using Grpc.Net.Client;

namespace GitHubActionsPort.Agent.Forwarding;

/// <summary>The one gRPC channel an agent keeps to its broker, tuned for many long, busy or idle streams.</summary>
internal static class BrokerChannel
{
    /// <summary>
    /// Grpc.Net.Client's switch (a <see cref="SocketsHttpHandler.Properties"/> key, grpc/grpc-dotnet#2274) that
    /// sends calls straight to the handler instead of through its connectivity-tracking load balancer.
    /// </summary>
    private const string LoadBalancingDisabled = "__GrpcLoadBalancingDisabled";

    public static GrpcChannel Create(Uri broker, AgentTransport transport, ILoggerFactory loggerFactory)
    {
        var handler = new SocketsHttpHandler
        {
            // Kestrel allows 100 streams per connection; past that, tunnels must get a new connection, not a queue.
            EnableMultipleHttp2Connections = true,
            KeepAlivePingDelay = transport.KeepAlivePingDelay,
            KeepAlivePingTimeout = transport.KeepAlivePingTimeout,
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
            // An idle tunnel lives as long as its lease: the pool must not retire its connection.
            PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            ConnectTimeout = transport.ConnectTimeout,
            InitialHttp2StreamWindowSize = transport.StreamWindowSize,
            AllowAutoRedirect = false,
            UseCookies = false,
        };

        // One broker, one address: the balancer has nothing to choose, and it would remember a failed connect. While
        // its reconnect backoff (up to two minutes) runs, every call fails at once without trying, so a broker back
        // from a restart would stay unreachable to new tunnels. Without it each call that finds no live connection
        // dials one: refused at once while the broker is down, through as soon as it is back.
        handler.Properties[LoadBalancingDisabled] = true;

        return GrpcChannel.ForAddress(broker, new GrpcChannelOptions
        {
            HttpHandler = handler,
            DisposeHttpClient = true,
            MaxReceiveMessageSize = WireLimits.MaxMessageSize,
            MaxSendMessageSize = WireLimits.MaxMessageSize,
            LoggerFactory = loggerFactory,
        });
    }
}
