using System.Security.Cryptography.X509Certificates;
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

    /// <param name="broker">The broker's URL; an https one is verified as <paramref name="caCertificates"/> says.</param>
    /// <param name="transport">HTTP/2 window, keep-alive and connect settings.</param>
    /// <param name="loggerFactory">Where gRPC logs.</param>
    /// <param name="caCertificates">
    /// The private CA the broker's certificate must chain to (<c>--ca-cert</c>); null trusts the system store.
    /// Either way the certificate must name the broker URL's host.
    /// </param>
    public static GrpcChannel Create(Uri broker, AgentTransport transport, ILoggerFactory loggerFactory, X509Certificate2Collection? caCertificates = null)
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

        if (caCertificates is not null)
        {
            // Only these roots, not the system store as well: a private broker's certificate has no business chaining to
            // a public CA. A private CA rarely publishes revocation lists, so revocation is not checked. SslStream still
            // checks the host name and the validity dates against this policy.
            var policy = new X509ChainPolicy
            {
                TrustMode = X509ChainTrustMode.CustomRootTrust,
                RevocationMode = X509RevocationMode.NoCheck,
            };
            policy.CustomTrustStore.AddRange(caCertificates);
            handler.SslOptions.CertificateChainPolicy = policy;
        }

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
