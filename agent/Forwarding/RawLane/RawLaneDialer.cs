using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using GitHubActionsPort.Agent.Forwarding.Failover;
using GitHubActionsPort.Protocol.RawLane;
using GitHubActionsPort.Protocol.Tunnels;
using Grpc.Core;
using Lease = GitHubActionsPort.Protocol.V1.Lease;

namespace GitHubActionsPort.Agent.Forwarding.RawLane;

/// <summary>
/// Opens authenticated raw-lane connections to the broker the route uses now: TCP to its address (or its URL's host)
/// at the raw-lane port it advertised (or the lease names), TLS with the lane's ALPN id when the broker's URL is https
/// (verified like the gRPC channel, against the URL's host name), then the Hello with the lease token and a fresh
/// proof of the session key. What comes back is a connection ready for its Open, and the broker it went to.
/// </summary>
internal sealed class RawLaneDialer(BrokerRoute route, LeaseKeeper lease, TimeSpan connectTimeout, X509Certificate2Collection? caCertificates)
{
    private static readonly List<SslApplicationProtocol> Protocols = [new(RawLaneFrame.ApplicationProtocol)];

    private readonly X509ChainPolicy? _chainPolicy = BrokerTrust.ChainPolicy(caCertificates);

    /// <summary>
    /// A connection to <paramref name="link"/>'s broker authenticated for the current lease, and that lease. Throws
    /// <see cref="RawLaneUnreachableException"/> when the lane cannot be reached, and <see cref="RpcException"/> with
    /// the broker's words when it refuses.
    /// </summary>
    public async Task<(TunnelSocket Connection, Lease Lease)> DialAsync(BrokerLink link, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(link);
        var port = (int)route.RawLanePort(link, lease.Current);
        if (port == 0)
        {
            throw new RawLaneUnreachableException("the broker does not offer the raw lane (it is off there)");
        }

        var connection = await ConnectAsync(link.Endpoint, port, cancellationToken).ConfigureAwait(false);
        try
        {
            var hello = lease.Hello(out var signedFor);
            RawLaneMessage reply;
            try
            {
                await RawLaneExchange.SendAsync(connection, hello, cancellationToken).ConfigureAwait(false);
                reply = await RawLaneExchange.ReceiveAsync(connection, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or SocketException or InvalidDataException)
            {
                throw new RawLaneUnreachableException($"the broker's raw-lane port {port} did not answer the Hello ({ex.Message})", ex);
            }

            if (reply is not RawLaneReply answer)
            {
                throw new RawLaneUnreachableException($"the broker's raw-lane port {port} answered the Hello with a {reply.GetType().Name}");
            }

            if (!answer.IsAccepted)
            {
                throw new RpcException(new Status(answer.Status, answer.Detail));
            }

            return (connection, signedFor);
        }
        catch
        {
            connection.Abort();
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task<TunnelSocket> ConnectAsync(BrokerEndpoint endpoint, int port, CancellationToken cancellationToken)
    {
        var broker = endpoint.Url;
        var socket = endpoint.Address is { } known ? new Socket(known.AddressFamily, SocketType.Stream, ProtocolType.Tcp) : new Socket(SocketType.Stream, ProtocolType.Tcp);
        SslStream? tls = null;
        try
        {
            using (var connect = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                connect.CancelAfter(connectTimeout);
                try
                {
                    if (endpoint.Address is { } address)
                    {
                        // One instance behind the name: its address, while TLS below still checks the name.
                        await socket.ConnectAsync(address, port, connect.Token).ConfigureAwait(false);
                    }
                    else
                    {
                        await socket.ConnectAsync(broker.IdnHost, port, connect.Token).ConfigureAwait(false);
                    }

                    if (broker.Scheme == Uri.UriSchemeHttps)
                    {
                        tls = new SslStream(new NetworkStream(socket, ownsSocket: false), leaveInnerStreamOpen: false);
                        await tls.AuthenticateAsClientAsync(ClientOptions(broker), connect.Token).ConfigureAwait(false);
                        if (tls.NegotiatedApplicationProtocol != Protocols[0])
                        {
                            throw new RawLaneUnreachableException($"{broker.IdnHost}:{port} did not agree to the raw lane's TLS protocol '{RawLaneFrame.ApplicationProtocol}' (another service, or a proxy, is there)");
                        }
                    }
                }
                catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
                {
                    throw new RawLaneUnreachableException($"no answer from {broker.IdnHost}:{port} within {connectTimeout.TotalSeconds:0} s", ex);
                }
                catch (Exception ex) when (ex is SocketException or IOException)
                {
                    throw new RawLaneUnreachableException($"cannot reach the raw lane at {broker.IdnHost}:{port} ({ex.Message})", ex);
                }
                catch (AuthenticationException ex)
                {
                    // Not a reason to fall back: the gRPC lane would meet the same certificate.
                    throw new RpcException(new Status(StatusCode.Unavailable, $"the broker's certificate on the raw lane was not accepted: {ex.InnerException?.Message ?? ex.Message}"));
                }
            }

            return new TunnelSocket(socket, tls);
        }
        catch
        {
            if (tls is not null)
            {
                await tls.DisposeAsync().ConfigureAwait(false);
            }

            socket.Dispose();
            throw;
        }
    }

    private SslClientAuthenticationOptions ClientOptions(Uri broker) => new()
    {
        TargetHost = broker.IdnHost,
        ApplicationProtocols = Protocols,
        EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
        CertificateChainPolicy = _chainPolicy,
    };
}
