using GitHubActionsPort.Protocol;
using Grpc.Net.Client;

namespace GitHubActionsPort.Agent.Forwarding;

/// <summary>The one gRPC channel an agent keeps to its broker, tuned for many long, busy or idle streams.</summary>
internal static class BrokerChannel
{
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
