using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace GitHubActionsPort.Agent.Forwarding;

/// <summary>
/// Which local user owns the client end of an accepted loopback connection, on Linux: the kernel knows, since both
/// ends are sockets of this host. Asked by the exact four-tuple through sock_diag netlink (one request, one reply,
/// no scan), or, where netlink is not to be had, by reading <c>/proc/net/tcp</c> and <c>/proc/net/tcp6</c>. The
/// client's socket exists for as long as the connection is established, so "not found" is an answer to refuse on,
/// not a race to retry. A client that has already closed its socket (written, then gone: its end lingers as a
/// TIME_WAIT or orphaned FIN_WAIT2 entry) belongs to no process any more, and the kernel then reports uid 0 with no
/// inode: that is "cannot say", never root, or a write-and-close from any user would pass as root's.
/// </summary>
[SupportedOSPlatform("linux")]
internal static partial class LocalPeerOwner
{
    private const int AfNetlink = 16;
    private const int SockDgram = 2;
    private const int SockCloexec = 0x80000;
    private const int NetlinkSockDiag = 4;
    private const ushort SockDiagByFamily = 20;
    private const ushort NlmFRequest = 1;
    private const ushort NlmsgError = 2;
    private const int MsgDontwait = 0x40;
    private const byte IpprotoTcp = 6;

    private const int HeaderLength = 16;
    private const int RequestLength = HeaderLength + 56;

    // inet_diag_msg: family, state, timer, retrans (4 bytes), inet_diag_sockid (48), expires, rqueue, wqueue, uid, inode.
    private const int UidOffset = HeaderLength + 4 + 48 + 12;
    private const int InodeOffset = UidOffset + 4;

    /// <summary>The effective uid of this process.</summary>
    public static uint EffectiveUserId => geteuid();

    /// <summary>
    /// The uid owning the socket whose local end is <paramref name="client"/> and whose remote end is
    /// <paramref name="server"/> (the accepted socket's remote and local endpoints); null when it cannot be found.
    /// </summary>
    public static uint? Find(IPEndPoint client, IPEndPoint server)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(server);
        return FindByNetlink(client, server, out var netlinkAnswered) is { } uid ? uid
            : netlinkAnswered ? null
            : FindInProcNet(client, server);
    }

    /// <summary>One SOCK_DIAG_BY_FAMILY request for the exact tuple. <paramref name="answered"/> is false when netlink itself failed.</summary>
    internal static uint? FindByNetlink(IPEndPoint client, IPEndPoint server, out bool answered)
    {
        answered = false;
        var family = client.AddressFamily;
        if (family != server.AddressFamily || family is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6))
        {
            return null;
        }

        Span<byte> request = stackalloc byte[RequestLength];
        request.Clear();
        WriteNative(request, (uint)RequestLength);
        WriteNative(request[4..], SockDiagByFamily);
        WriteNative(request[6..], NlmFRequest);
        var diag = request[HeaderLength..];
        diag[0] = family == AddressFamily.InterNetwork ? (byte)2 : (byte)10;
        diag[1] = IpprotoTcp;
        WriteNative(diag[4..], uint.MaxValue); // every TCP state
        var id = diag[8..];
        BinaryPrimitives.WriteUInt16BigEndian(id, (ushort)client.Port);
        BinaryPrimitives.WriteUInt16BigEndian(id[2..], (ushort)server.Port);
        client.Address.TryWriteBytes(id[4..20], out _);
        server.Address.TryWriteBytes(id[20..36], out _);
        // No cookie (INET_DIAG_NOCOOKIE): the tuple alone names the socket.
        WriteNative(id[40..], uint.MaxValue);
        WriteNative(id[44..], uint.MaxValue);

        var fd = socket(AfNetlink, SockDgram | SockCloexec, NetlinkSockDiag);
        if (fd < 0)
        {
            return null;
        }

        try
        {
            if (send(fd, ref MemoryMarshal.GetReference(request), (nuint)request.Length, 0) != request.Length)
            {
                return null;
            }

            // The kernel answers within send(), so the reply is queued by now: never wait for it.
            Span<byte> reply = stackalloc byte[512];
            var length = recv(fd, ref MemoryMarshal.GetReference(reply), (nuint)reply.Length, MsgDontwait);
            if (length < HeaderLength)
            {
                return null;
            }

            answered = true;
            var type = MemoryMarshal.Read<ushort>(reply[4..]);
            if (type == NlmsgError || type != SockDiagByFamily || length < InodeOffset + 4)
            {
                // NLMSG_ERROR with ENOENT: no such socket.
                return null;
            }

            // The reply's tuple must be the one asked about.
            var replyId = reply[(HeaderLength + 4)..];
            if (BinaryPrimitives.ReadUInt16BigEndian(replyId) != client.Port || BinaryPrimitives.ReadUInt16BigEndian(replyId[2..]) != server.Port)
            {
                return null;
            }

            return Owner(MemoryMarshal.Read<uint>(reply[UidOffset..]), MemoryMarshal.Read<uint>(reply[InodeOffset..]));
        }
        finally
        {
            _ = close(fd);
        }
    }

    /// <summary>The same question read from /proc/net/tcp or tcp6: a scan of every TCP socket, so only the fallback.</summary>
    internal static uint? FindInProcNet(IPEndPoint client, IPEndPoint server)
    {
        var file = client.AddressFamily == AddressFamily.InterNetworkV6 ? "/proc/net/tcp6" : "/proc/net/tcp";
        var local = ProcNetEndPoint(client);
        var remote = ProcNetEndPoint(server);
        try
        {
            foreach (var line in File.ReadLines(file).Skip(1))
            {
                // "  sl  local_address rem_address   st tx_queue:rx_queue tr:tm->when retrnsmt   uid ..."
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                // "... retrnsmt   uid  timeout inode": fields 7 and 9.
                if (fields.Length > 9
                    && string.Equals(fields[1], local, StringComparison.OrdinalIgnoreCase)
                    && string.Equals(fields[2], remote, StringComparison.OrdinalIgnoreCase)
                    && uint.TryParse(fields[7], NumberStyles.None, CultureInfo.InvariantCulture, out var uid)
                    && ulong.TryParse(fields[9], NumberStyles.None, CultureInfo.InvariantCulture, out var inode))
                {
                    return Owner(uid, inode);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        return null;
    }

    /// <summary>
    /// A closed client's lingering entry (no inode) reports uid 0 whoever owned it: unknown, not root. An orphaned
    /// socket that still carries its creator's uid is judged by it.
    /// </summary>
    private static uint? Owner(uint uid, ulong inode) => uid == 0 && inode == 0 ? null : uid;

    /// <summary>An endpoint as /proc/net prints it: each 32-bit word of the address in host order, in hex, then the port.</summary>
    private static string ProcNetEndPoint(IPEndPoint endPoint)
    {
        var bytes = endPoint.Address.GetAddressBytes();
        var text = new System.Text.StringBuilder(bytes.Length * 2 + 5);
        for (var i = 0; i < bytes.Length; i += 4)
        {
            var word = MemoryMarshal.Read<uint>(bytes.AsSpan(i, 4));
            text.Append(word.ToString("X8", CultureInfo.InvariantCulture));
        }

        return text.Append(':').Append(endPoint.Port.ToString("X4", CultureInfo.InvariantCulture)).ToString();
    }

    private static void WriteNative(Span<byte> destination, ushort value) => MemoryMarshal.Write(destination, in value);

    private static void WriteNative(Span<byte> destination, uint value) => MemoryMarshal.Write(destination, in value);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int socket(int domain, int type, int protocol);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint send(int fd, ref byte buffer, nuint length, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint recv(int fd, ref byte buffer, nuint length, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);

    [LibraryImport("libc")]
    private static partial uint geteuid();
}
