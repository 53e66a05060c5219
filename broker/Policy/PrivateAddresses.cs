using System.Net;
using System.Net.Sockets;

namespace GitHubActionsPort.Broker.Policy;

/// <summary>
/// Addresses a host-name target may not resolve to unless its entry allows it: the broker's own host (loopback,
/// unspecified), the local link, and the cloud metadata services that hand out the host's credentials. A DNS
/// record is easier to change than the broker's configuration, so it must not be able to aim a target there.
/// </summary>
internal static class PrivateAddresses
{
    private static readonly IPAddress[] MetadataAddresses =
    [
        IPAddress.Parse("169.254.169.254"), // AWS, Azure, GCP, OCI and others
        IPAddress.Parse("fd00:ec2::254"), // AWS over IPv6
        IPAddress.Parse("100.100.100.200"), // Alibaba Cloud
        IPAddress.Parse("168.63.129.16"), // Azure WireServer
    ];

    /// <summary>Well-known NAT64 prefix: 64:ff9b::a.b.c.d reaches IPv4 a.b.c.d.</summary>
    private static readonly byte[] Nat64Prefix = [0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0];

    /// <summary>What kind of forbidden address <paramref name="address"/> is ("loopback", ...); null when it is none.</summary>
    public static string? Classify(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);

        // An IPv4 address dressed as IPv6 reaches the IPv4 host: judge that one.
        address = Unwrap(address);
        if (MetadataAddresses.Contains(address))
        {
            return "cloud metadata";
        }

        if (IPAddress.IsLoopback(address))
        {
            return "loopback";
        }

        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            var bytes = address.GetAddressBytes();
            return bytes[0] switch
            {
                // 0.0.0.0/8 means "this host": connecting to 0.0.0.0 reaches loopback services on Linux.
                0 => "unspecified (this host)",
                169 when bytes[1] == 254 => "link-local",
                _ => null,
            };
        }

        if (address.Equals(IPAddress.IPv6Any))
        {
            return "unspecified (this host)";
        }

        return address.IsIPv6LinkLocal ? "link-local" : null;
    }

    private static IPAddress Unwrap(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            return address.MapToIPv4();
        }

        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            var bytes = address.GetAddressBytes();
            if (bytes.AsSpan(0, 12).SequenceEqual(Nat64Prefix))
            {
                return new IPAddress(bytes.AsSpan(12, 4));
            }
        }

        return address;
    }
}
