using System.Net;
using System.Net.Sockets;
using System.Runtime.Versioning;
using GitHubActionsPort.Agent.Forwarding;

namespace GitHubActionsPort.Tests;

/// <summary>
/// The kernel's answer to "whose socket is the client end of this loopback connection?", on real sockets: by
/// sock_diag netlink and by /proc/net, which must agree, for IPv4 and IPv6, and "not found" for a tuple no
/// socket has.
/// </summary>
[Platform("Linux")]
[SupportedOSPlatform("linux")]
public sealed class LocalPeerOwnerTests
{
    [TestCase("127.0.0.1")]
    [TestCase("::1")]
    public async Task EstablishedLoopbackConnection_OwnerIsThisProcessesUser_ByNetlinkAndByProcNet(string address)
    {
        var (client, accepted, listener) = await ConnectAsync(IPAddress.Parse(address));
        using (client)
        using (accepted)
        using (listener)
        {
            var peer = (IPEndPoint)accepted.RemoteEndPoint!;
            var local = (IPEndPoint)accepted.LocalEndPoint!;
            var own = LocalPeerOwner.EffectiveUserId;

            Assert.That(LocalPeerOwner.FindByNetlink(peer, local, out var answered), Is.EqualTo(own));
            Assert.That(answered, Is.True);
            Assert.That(LocalPeerOwner.FindInProcNet(peer, local), Is.EqualTo(own));
            Assert.That(LocalPeerOwner.Find(peer, local), Is.EqualTo(own));
        }
    }

    [Test]
    public async Task TupleOfNoSocket_IsNotFound_EitherWay()
    {
        var (client, accepted, listener) = await ConnectAsync(IPAddress.Loopback);
        using (client)
        using (accepted)
        using (listener)
        {
            // The server's own end, asked as if it were a client: no socket has that local and remote pair.
            var wrongWayRound = (IPEndPoint)accepted.LocalEndPoint!;
            var unused = new IPEndPoint(IPAddress.Loopback, SocketIo.ReleasedLoopbackPort());

            Assert.That(LocalPeerOwner.FindByNetlink(unused, wrongWayRound, out var answered), Is.Null);
            Assert.That(answered, Is.True, "netlink answered 'no such socket'");
            Assert.That(LocalPeerOwner.FindInProcNet(unused, wrongWayRound), Is.Null);
            Assert.That(LocalPeerOwner.Find(unused, wrongWayRound), Is.Null);
        }
    }

    [Test]
    public async Task ClientThatWroteAndClosed_IsNeverReportedAsRoot_EitherWay()
    {
        var (client, accepted, listener) = await ConnectAsync(IPAddress.Loopback);
        using (accepted)
        using (listener)
        {
            var peer = (IPEndPoint)accepted.RemoteEndPoint!;
            var local = (IPEndPoint)accepted.LocalEndPoint!;
            await client.SendAllAsync(new byte[] { 1 });
            client.Dispose();
            Assert.That(await accepted.ReadExactlyAsync(1).DefaultTimeout(), Has.Length.EqualTo(1));
            Assert.That(await accepted.ReceiveAsync(new byte[1]).DefaultTimeout(), Is.Zero, "the client's FIN arrived");

            // The orphaned client end turns into a TIME_WAIT entry (uid 0, no inode) once our ACK of its FIN lands;
            // on loopback that is at once, but not within the same call, so allow it a bounded number of looks.
            uint? netlink = 0, procNet = 0;
            for (var look = 0; look < 10_000 && (netlink is not null || procNet is not null); look++)
            {
                netlink = LocalPeerOwner.FindByNetlink(peer, local, out _);
                procNet = LocalPeerOwner.FindInProcNet(peer, local);
                await Task.Yield();
            }

            Assert.That(netlink, Is.Null, "netlink: a socket no process holds has no owner to name, and is not root's");
            Assert.That(procNet, Is.Null, "/proc/net: the same");
        }
    }

    private static async Task<(Socket Client, Socket Accepted, Socket Listener)> ConnectAsync(IPAddress address)
    {
        var listener = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(address, 0));
        listener.Listen();
        var client = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(listener.LocalEndPoint!).DefaultTimeout();
        var accepted = await listener.AcceptAsync().DefaultTimeout();
        return (client, accepted, listener);
    }
}
