using System.Net;
using GitHubActionsPort.Broker.Configuration;
using GitHubActionsPort.Broker.Policy;
using GitHubActionsPort.Broker.Tunnels;

namespace GitHubActionsPort.Tests;

/// <summary>
/// Host-name targets are resolved when dialled, and a name that resolves to the broker's own host, the local link
/// or a cloud metadata service is refused unless the target's entry allows it: a DNS record cannot aim a target
/// at the broker's host. A literal address is dialled as configured.
/// </summary>
public sealed class TargetAddressSafetyTests : TunnelFixture
{
    protected override void Configure(Dictionary<string, string?> configuration)
    {
        var port = Echo.EndPoint.Port;
        configuration["Broker:Targets:local"] = $"localhost:{port}";
        configuration["Broker:Targets:local-ok:Address"] = $"localhost:{port}";
        configuration["Broker:Targets:local-ok:AllowPrivateAddresses"] = "true";
        configuration["Broker:Rules:0:Targets:1"] = "local";
        configuration["Broker:Rules:0:Targets:2"] = "local-ok";
    }

    [TestCase("127.0.0.1", "loopback")]
    [TestCase("127.255.255.254", "loopback")]
    [TestCase("::1", "loopback")]
    [TestCase("::ffff:127.0.0.1", "loopback")]
    [TestCase("0.0.0.0", "unspecified (this host)")]
    [TestCase("::", "unspecified (this host)")]
    [TestCase("169.254.169.254", "cloud metadata")]
    [TestCase("::ffff:169.254.169.254", "cloud metadata")]
    [TestCase("64:ff9b::a9fe:a9fe", "cloud metadata")]
    [TestCase("fd00:ec2::254", "cloud metadata")]
    [TestCase("100.100.100.200", "cloud metadata")]
    [TestCase("168.63.129.16", "cloud metadata")]
    [TestCase("169.254.10.20", "link-local")]
    [TestCase("fe80::1", "link-local")]
    [TestCase("febf::1", "link-local")]
    [TestCase("64:ff9b:1::a9fe:a9fe", "cloud metadata")] // local-use prefix, /96
    [TestCase("64:ff9b:1::7f00:1", "loopback")]
    [TestCase("64:ff9b:1:7f00:0:100::", "loopback")] // local-use prefix, /48: 127.0 in bytes 6-7, 0.1 in bytes 9-10
    [TestCase("64:ff9b:1:0:a9:fea9:fe00:0", "cloud metadata")] // /64: bytes 9-12
    [TestCase("64:ff9b::7f00:1", "loopback")]
    public void ForbiddenAddress_IsClassified(string address, string kind) =>
        Assert.That(PrivateAddresses.Classify(IPAddress.Parse(address)), Is.EqualTo(kind));

    [TestCase("10.0.0.5")]
    [TestCase("172.16.3.4")]
    [TestCase("192.168.1.10")]
    [TestCase("100.64.0.1")]
    [TestCase("8.8.8.8")]
    [TestCase("fd00::1")]
    [TestCase("fd00:ec2::253")]
    [TestCase("2001:db8::1")]
    [TestCase("fec0::1")]
    [TestCase("64:ff9b:1::a00:5")] // 10.0.0.5 through a local-use NAT64 /96
    [TestCase("64:ff9b::a00:5")]
    public void PrivateNetworkOrPublicAddress_IsAllowed(string address) =>
        Assert.That(PrivateAddresses.Classify(IPAddress.Parse(address)), Is.Null, "private services are what targets are for");

    [Test]
    public void BrokerHostsOwnInterfaceAddress_IsClassified()
    {
        // A service bound to all interfaces answers on the host's own addresses as on loopback.
        var own = System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces()
            .SelectMany(n => n.GetIPProperties().UnicastAddresses)
            .Select(u => u.Address)
            .Where(a => !IPAddress.IsLoopback(a) && !a.IsIPv6LinkLocal && !(a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && a.GetAddressBytes()[0] == 169))
            .ToList();
        if (own.Count == 0)
        {
            Assert.Ignore("this host has no non-loopback, non-link-local address");
        }

        Assert.Multiple(() =>
        {
            foreach (var address in own)
            {
                Assert.That(PrivateAddresses.Classify(new IPAddress(address.GetAddressBytes())), Is.EqualTo("broker host's own"), address.ToString());
            }
        });
    }

    [Test]
    public void HostNameResolvingToLoopback_IsRefusedByTheDialer_BeforeAnyConnection()
    {
        var before = Echo.AcceptedCount;

        var error = Assert.ThrowsAsync<TargetUnreachableException>(() => Dialer().ConnectAsync(new TargetAddress("localhost", Echo.EndPoint.Port), CancellationToken.None));

        Assert.That(error!.Message, Is.EqualTo("resolves to a loopback address, which this target does not allow"));
        Assert.That(error.Refused, Is.True);
        Assert.That(Echo.AcceptedCount, Is.EqualTo(before));
    }

    [Test]
    public async Task HostNameResolvingToLoopback_WithAllowPrivateAddresses_IsDialled()
    {
        using var socket = await Dialer().ConnectAsync(new TargetAddress("localhost", Echo.EndPoint.Port) { AllowPrivateAddresses = true }, CancellationToken.None).DefaultTimeout();

        Assert.That(socket.RemoteEndPoint, Is.InstanceOf<IPEndPoint>());
        Assert.That(IPAddress.IsLoopback(((IPEndPoint)socket.RemoteEndPoint!).Address), Is.True, "connected to the address it checked");
    }

    [Test]
    public async Task LiteralLoopbackAddress_IsDialledAsConfigured()
    {
        using var socket = await Dialer().ConnectAsync(new TargetAddress("127.0.0.1", Echo.EndPoint.Port), CancellationToken.None).DefaultTimeout();

        Assert.That(socket.Connected, Is.True);
    }

    [Test]
    public async Task ThroughTheAgent_HostNameTargetResolvingToLoopback_IsResetAndLogged_WithoutDialling()
    {
        await using var agent = await StartAgentAsync("local");
        var before = Echo.AcceptedCount;

        using var client = await SocketIo.ConnectAsync(agent["local"]);
        var (_, wasReset) = await client.ReadUntilClosedAsync().DefaultTimeout();
        var refused = await Broker.Logs.WaitForAsync(e => e.EventId.Name == "TargetUnreachable").DefaultTimeout();

        Assert.That(wasReset, Is.True);
        Assert.That(refused.Message, Does.Contain("local").And.Contain("resolves to a loopback address, which this target does not allow"));
        Assert.That(Echo.AcceptedCount, Is.EqualTo(before), "the broker never connected to the loopback address");
    }

    [Test]
    public async Task ThroughTheAgent_HostNameTargetAllowedPrivateAddresses_Echoes()
    {
        await using var agent = await StartAgentAsync("local-ok");

        using var client = await SocketIo.ConnectAsync(agent["local-ok"]);
        var payload = SocketIo.RandomBytes(64);
        await client.SendAllAsync(payload);

        Assert.That(await client.ReadExactlyAsync(payload.Length).DefaultTimeout(), Is.EqualTo(payload));
    }

    private static TargetDialer Dialer() => new(new BrokerSettings
    {
        Issuers = [],
        Targets = new Dictionary<string, TargetAddress>(),
        Rules = [],
        Transport = new TransportSettings { ConnectTimeout = TimeSpan.FromSeconds(10) },
    });
}
