using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace GitHubActionsPort.Broker.Policy;

/// <summary>
/// Addresses a host-name target may not resolve to unless its entry allows it: the broker's own host (loopback,
/// unspecified, and the addresses of its own network interfaces, where services bound to all interfaces listen),
/// the local link, and the cloud metadata services that hand out the host's credentials, also when reached through
/// a NAT64 prefix. A DNS record is easier to change than the broker's configuration, so it must not be able to aim
/// a target there.
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

    /// <summary>
    /// NAT64's local-use prefix, 64:ff9b:1::/48 (RFC 8215): an operator carves a translation prefix of /48 to /96
    /// out of it, and the IPv4 address sits where RFC 6052 puts it for that length.
    /// </summary>
    private static readonly byte[] Nat64LocalUsePrefix = [0x00, 0x64, 0xff, 0x9b, 0x00, 0x01];

    /// <summary>Where RFC 6052 puts the four IPv4 bytes for prefixes of /48, /56, /64, /72, /80 and /96 (byte 8 is never used).</summary>
    private static readonly int[][] Rfc6052Positions =
    [
        [6, 7, 9, 10],
        [7, 9, 10, 11],
        [9, 10, 11, 12],
        [10, 11, 12, 13],
        [11, 12, 13, 14],
        [12, 13, 14, 15],
    ];

    /// <summary>How long the host's own interface addresses are trusted before they are read again (DHCP, a new interface).</summary>
    private static readonly TimeSpan OwnAddressesMaxAge = TimeSpan.FromSeconds(5);

    /// <summary>A reference, so a reader on another thread sees a whole snapshot or the one before, never half of one.</summary>
    private static OwnAddressSnapshot? _ownAddresses;

    /// <summary>What kind of forbidden address <paramref name="address"/> is ("loopback", ...); null when it is none.</summary>
    public static string? Classify(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);

        // A NAT64 local-use address reaches whichever IPv4 address the operator's prefix length embeds: any of
        // them being forbidden forbids it.
        if (IsNat64LocalUse(address))
        {
            // RFC 6052 leaves the bits after the IPv4 address zero, so a length whose suffix is not is not in use.
            var bytes = address.GetAddressBytes();
            return Rfc6052Positions
                .Where(p => !bytes.AsSpan(p[3] + 1).ContainsAnyExcept((byte)0))
                .Select(p => ClassifyPlain(new IPAddress(new[] { bytes[p[0]], bytes[p[1]], bytes[p[2]], bytes[p[3]] })))
                .FirstOrDefault(kind => kind is not null);
        }

        return ClassifyPlain(address);
    }

    private static string? ClassifyPlain(IPAddress address)
    {
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
            var kind = bytes[0] switch
            {
                // 0.0.0.0/8 means "this host": connecting to 0.0.0.0 reaches loopback services on Linux.
                0 => "unspecified (this host)",
                169 when bytes[1] == 254 => "link-local",
                _ => null,
            };
            if (kind is not null)
            {
                return kind;
            }
        }
        else if (address.Equals(IPAddress.IPv6Any))
        {
            return "unspecified (this host)";
        }
        else if (address.IsIPv6LinkLocal)
        {
            return "link-local";
        }

        return OwnAddresses().Contains(address) ? "broker host's own" : null;
    }

    private static bool IsNat64LocalUse(IPAddress address) =>
        address.AddressFamily == AddressFamily.InterNetworkV6 && address.GetAddressBytes().AsSpan(0, 6).SequenceEqual(Nat64LocalUsePrefix);

    /// <summary>
    /// The unicast addresses of the broker host's own interfaces: a service bound to all interfaces answers there
    /// as on loopback. Read at most every few seconds, so a dial costs no interface scan.
    /// </summary>
    private static IReadOnlySet<IPAddress> OwnAddresses()
    {
        var now = Environment.TickCount64;
        if (_ownAddresses is { } cached && now - cached.ReadAt < (long)OwnAddressesMaxAge.TotalMilliseconds)
        {
            return cached.Addresses;
        }

        HashSet<IPAddress> addresses = [];
        try
        {
            foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
            {
                foreach (var unicast in nic.GetIPProperties().UnicastAddresses)
                {
                    // Scope ids differ between the resolver's answer and the interface's; the address is what counts.
                    var bytes = unicast.Address.GetAddressBytes();
                    addresses.Add(Unwrap(new IPAddress(bytes)));
                }
            }
        }
        catch (NetworkInformationException)
        {
            // Unreadable: loopback and the rest are still refused; keep the last list rather than none.
            return _ownAddresses?.Addresses ?? addresses;
        }

        _ownAddresses = new OwnAddressSnapshot(now, addresses);
        return addresses;
    }

    private sealed record OwnAddressSnapshot(long ReadAt, IReadOnlySet<IPAddress> Addresses);

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
