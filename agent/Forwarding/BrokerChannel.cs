using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using GitHubActionsPort.Protocol;
using GitHubActionsPort.Protocol.V1;
using Grpc.Core;
using Grpc.Net.Client;

namespace GitHubActionsPort.Agent.Forwarding;

/// <summary>
/// The agent's gRPC connections to its broker, tuned for many long, busy or idle streams: a small fixed set of
/// HTTP/2 connections that tunnels are spread over (<see cref="ForTunnel"/>), the first of which also carries the
/// control calls (OpenSession, RenewSession, CloseSession) made through this channel itself.
/// </summary>
/// <remarks>
/// Tunnels on one HTTP/2 connection share one TCP send buffer, one congestion window and one connection-level flow
/// control window: a bulk transfer fills them, and an interactive tunnel's frames wait behind megabytes of it. On
/// connections of their own, the kernel and the network treat them as separate flows. Each connection is dialled
/// when its first call starts, so an agent with one tunnel at a time opens one connection, as before.
/// </remarks>
internal sealed class BrokerChannel : ChannelBase, IDisposable
{
    /// <summary>
    /// Grpc.Net.Client's switch (a <see cref="SocketsHttpHandler.Properties"/> key, grpc/grpc-dotnet#2274) that
    /// sends calls straight to the handler instead of through its connectivity-tracking load balancer.
    /// </summary>
    private const string LoadBalancingDisabled = "__GrpcLoadBalancingDisabled";

    private readonly GrpcChannel[] _channels;
    private readonly Broker.BrokerClient[] _clients;
    private readonly int[] _openTunnels;
    private readonly Lock _gate = new();

    private BrokerChannel(Uri broker, GrpcChannel[] channels)
        : base(broker.Authority)
    {
        _channels = channels;
        _clients = channels.Select(c => new Broker.BrokerClient(c)).ToArray();
        _openTunnels = new int[channels.Length];
    }

    /// <param name="broker">The broker's URL; an https one is verified as <paramref name="caCertificates"/> says.</param>
    /// <param name="transport">HTTP/2 window, keep-alive and connect settings, and how many connections tunnels get.</param>
    /// <param name="loggerFactory">Where gRPC logs.</param>
    /// <param name="caCertificates">
    /// The private CA the broker's certificate must chain to (<c>--ca-cert</c>); null trusts the system store.
    /// Either way the certificate must name the broker URL's host.
    /// </param>
    /// <param name="address">
    /// The address to connect to, one the URL's host name resolved to (one of several instances); null connects to
    /// the host name. TLS still sends and checks the URL's host name.
    /// </param>
    public static BrokerChannel Create(Uri broker, AgentTransport transport, ILoggerFactory loggerFactory, X509Certificate2Collection? caCertificates = null, IPAddress? address = null)
    {
        ArgumentNullException.ThrowIfNull(broker);
        ArgumentNullException.ThrowIfNull(transport);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(transport.TunnelConnections, nameof(transport));
        // A handler is a connection pool of its own: one per channel is what makes the connections separate.
        var channels = new GrpcChannel[transport.TunnelConnections];
        for (var i = 0; i < channels.Length; i++)
        {
            channels[i] = CreateChannel(broker, transport, loggerFactory, caCertificates, address);
        }

        return new BrokerChannel(broker, channels);
    }

    /// <summary>
    /// The connection for one new tunnel: of this channel's connections, the one carrying the fewest open tunnels
    /// (the first such, so a lone tunnel shares the control calls' connection rather than dialling another).
    /// </summary>
    /// <returns>
    /// A <see cref="TunnelConnection"/> whose <see cref="TunnelConnection.Client"/> makes the tunnel's <c>Tunnel</c>
    /// call (and any retry of it). The caller must dispose it once the tunnel has ended, that is once the call is
    /// over or disposed, whether it connected or was refused: until then it counts as open on its connection.
    /// Disposing it again does nothing. Thread-safe; never dials by itself (the call does, when it starts). A
    /// tunnel that is only probed (<c>--probe</c>) takes one the same way.
    /// </returns>
    /// <remarks>
    /// Counting is by tunnels, not bytes: an idle database session weighs as much as a bulk copy. Past Kestrel's
    /// stream limit on one connection its handler opens another beside it, as a single channel always did.
    /// </remarks>
    /// <example>
    /// One per accepted local connection, kept for as long as its call:
    /// <code>
    /// using var connection = channel.ForTunnel();
    /// using var call = connection.Client.Tunnel(headers, cancellationToken: stopping);
    /// // ... splice the socket and the call until both directions have ended ...
    /// </code>
    /// </example>
    public TunnelConnection ForTunnel()
    {
        lock (_gate)
        {
            var chosen = 0;
            for (var i = 1; i < _openTunnels.Length; i++)
            {
                if (_openTunnels[i] < _openTunnels[chosen])
                {
                    chosen = i;
                }
            }

            _openTunnels[chosen]++;
            return new TunnelConnection(this, chosen, _clients[chosen]);
        }
    }

    /// <summary>Tunnels open on each connection now, by index: for tests and diagnostics.</summary>
    public int[] OpenTunnels()
    {
        lock (_gate)
        {
            return (int[])_openTunnels.Clone();
        }
    }

    /// <summary>Control calls go over the first connection, as they did when there was only one.</summary>
    public override CallInvoker CreateCallInvoker() => _channels[0].CreateCallInvoker();

    public void Dispose()
    {
        foreach (var channel in _channels)
        {
            channel.Dispose();
        }
    }

    protected override async Task ShutdownAsyncCore()
    {
        foreach (var channel in _channels)
        {
            await channel.ShutdownAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Gives back a place <see cref="ForTunnel"/> handed out; <see cref="TunnelConnection"/> calls it once.</summary>
    internal void Release(int index)
    {
        lock (_gate)
        {
            _openTunnels[index]--;
        }
    }

    private static GrpcChannel CreateChannel(Uri broker, AgentTransport transport, ILoggerFactory loggerFactory, X509Certificate2Collection? caCertificates, IPAddress? address)
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

        if (BrokerTrust.ChainPolicy(caCertificates) is { } policy)
        {
            handler.SslOptions.CertificateChainPolicy = policy;
        }

        if (address is not null)
        {
            // The request keeps the URL's host (TLS's server name and certificate check); only the TCP connect goes to
            // this instance's address, so each address behind one name is a broker of its own.
            handler.ConnectCallback = (context, cancellationToken) => ConnectAsync(new IPEndPoint(address, context.DnsEndPoint.Port), cancellationToken);
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

    private static async ValueTask<Stream> ConnectAsync(IPEndPoint endPoint, CancellationToken cancellationToken)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endPoint, cancellationToken).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
