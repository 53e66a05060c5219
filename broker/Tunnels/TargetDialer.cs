using System.Net;
using System.Net.Sockets;
using GitHubActionsPort.Broker.Configuration;
using GitHubActionsPort.Broker.Policy;

namespace GitHubActionsPort.Broker.Tunnels;

/// <summary>
/// Connects to a configured target within the connect timeout. A host name is resolved here, at dial time, and
/// the broker connects to exactly the addresses it resolved and checked, never to the name again (a second
/// lookup could answer differently): a name that resolves to a loopback, link-local or cloud-metadata address is
/// refused unless the target's entry sets <c>AllowPrivateAddresses</c>. A literal IP address is dialled as
/// configured, since whoever wrote it meant it.
/// </summary>
internal sealed class TargetDialer(BrokerSettings settings)
{
    /// <summary>Most resolved addresses tried in turn; a name with more is answered by its first few.</summary>
    private const int MaxAddressesTried = 8;

    public async Task<Socket> ConnectAsync(TargetAddress address, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(address);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(settings.Transport.ConnectTimeout);
        try
        {
            var addresses = address.LiteralAddress is { } literal ? [literal] : await ResolveAsync(address, timeout.Token).ConfigureAwait(false);
            return await ConnectAnyAsync(addresses, address.Port, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TargetUnreachableException($"did not accept a connection within {settings.Transport.ConnectTimeout.TotalSeconds:0.#} s");
        }
    }

    private static async Task<IPAddress[]> ResolveAsync(TargetAddress address, CancellationToken cancellationToken)
    {
        IPAddress[] addresses;
        try
        {
            addresses = await Dns.GetHostAddressesAsync(address.Host, cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException ex)
        {
            throw new TargetUnreachableException(Describe(ex), ex);
        }

        if (addresses.Length == 0)
        {
            throw new TargetUnreachableException("has a host name that does not resolve");
        }

        if (!address.AllowPrivateAddresses)
        {
            // Any one forbidden address refuses the whole name: a record mixing them is not an accident to route around.
            foreach (var resolved in addresses)
            {
                if (PrivateAddresses.Classify(resolved) is { } kind)
                {
                    throw new TargetUnreachableException($"resolves to a {kind} address, which this target does not allow", refused: true);
                }
            }
        }

        return addresses.Length <= MaxAddressesTried ? addresses : addresses[..MaxAddressesTried];
    }

    private static async Task<Socket> ConnectAnyAsync(IPAddress[] addresses, int port, CancellationToken cancellationToken)
    {
        SocketException? last = null;
        foreach (var ip in addresses)
        {
            Socket? socket = null;
            try
            {
                // One socket per address, of its family: a host without IPv6 still reaches a name's IPv4 addresses.
                socket = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                await socket.ConnectAsync(new IPEndPoint(ip, port), cancellationToken).ConfigureAwait(false);
                return socket;
            }
            catch (SocketException ex)
            {
                socket?.Dispose();
                last = ex;
            }
            catch
            {
                socket?.Dispose();
                throw;
            }
        }

        throw new TargetUnreachableException(Describe(last!), last);
    }

    private static string Describe(SocketException ex) => ex.SocketErrorCode switch
    {
        SocketError.ConnectionRefused => "refused the connection (nothing listens on its port)",
        SocketError.HostNotFound or SocketError.NoData or SocketError.TryAgain => "has a host name that does not resolve",
        SocketError.HostUnreachable or SocketError.NetworkUnreachable => "is unreachable from the broker",
        SocketError.TimedOut => "did not answer",
        SocketError.AddressFamilyNotSupported => "has only addresses of a family the broker's host cannot reach",
        _ => $"could not be connected ({ex.SocketErrorCode})",
    };
}
