using System.Net;
using System.Net.Sockets;

namespace GitHubActionsPort.Broker.Connections;

/// <summary>
/// The "source" that per-source limits count against: an IPv4 address, or the /64 an IPv6 address lies in (one
/// host commonly holds a whole /64, so counting single IPv6 addresses would be no limit at all).
/// </summary>
internal static class SourceAddress
{
    /// <summary>The source of <paramref name="endPoint"/>; null when it is not an IP end point (a Unix socket, a pipe).</summary>
    public static IPAddress? Of(EndPoint? endPoint) => endPoint is IPEndPoint ip ? Of(ip.Address) : null;

    /// <summary>The source of <paramref name="address"/>; null for null.</summary>
    public static IPAddress? Of(IPAddress? address)
    {
        if (address is null)
        {
            return null;
        }

        if (address.IsIPv4MappedToIPv6)
        {
            return address.MapToIPv4();
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return address;
        }

        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        bytes[8..].Clear();
        return new IPAddress(bytes);
    }
}
