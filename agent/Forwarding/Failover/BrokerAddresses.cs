using System.Net;
using System.Net.Sockets;

namespace GitHubActionsPort.Agent.Forwarding.Failover;

/// <summary>
/// Turns the <c>--broker</c> URLs into the brokers to try, in order: a URL whose host is an address is one broker; a
/// host name counts as one broker per address it resolves to (a DNS name in front of several instances), in the
/// order the resolver gave them. The same address and port named twice (two names for one instance) is tried once.
/// </summary>
internal static class BrokerAddresses
{
    /// <summary>The most addresses one host name contributes: a failover list, not a scan of whatever DNS returns.</summary>
    internal const int MaxAddressesPerName = 8;

    /// <summary>
    /// The brokers <paramref name="urls"/> name, and for each URL that could not be resolved, why not (in URL order).
    /// Nothing here connects; a name that resolves to nothing is left out with its reason.
    /// </summary>
    public static async Task<(IReadOnlyList<BrokerEndpoint> Endpoints, IReadOnlyList<string> Unresolved)> ExpandAsync(
        IReadOnlyList<Uri> urls, Func<string, CancellationToken, Task<IPAddress[]>> resolve, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(urls);
        ArgumentNullException.ThrowIfNull(resolve);
        var endpoints = new List<BrokerEndpoint>();
        var unresolved = new List<string>();
        var seen = new HashSet<IPEndPoint>();
        foreach (var url in urls)
        {
            IEnumerable<IPAddress> addresses;
            if (IPAddress.TryParse(url.IdnHost, out var literal))
            {
                addresses = [literal];
            }
            else
            {
                IPAddress[] found;
                try
                {
                    found = await resolve(url.IdnHost, cancellationToken).ConfigureAwait(false);
                }
                catch (SocketException ex)
                {
                    unresolved.Add($"{url.GetLeftPart(UriPartial.Authority)}: {url.IdnHost} does not resolve ({ex.Message})");
                    continue;
                }

                // Only what a TCP connect can use; at most a few, so one name cannot make the agent try a whole network.
                addresses = found.Where(a => a.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6).Take(MaxAddressesPerName).ToList();
                if (!addresses.Any())
                {
                    unresolved.Add($"{url.GetLeftPart(UriPartial.Authority)}: {url.IdnHost} resolves to no address");
                    continue;
                }
            }

            foreach (var address in addresses)
            {
                var normal = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
                if (seen.Add(new IPEndPoint(normal, url.Port)))
                {
                    endpoints.Add(new BrokerEndpoint(url, normal));
                }
            }
        }

        return (endpoints, unresolved);
    }
}
