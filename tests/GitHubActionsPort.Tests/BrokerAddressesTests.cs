using System.Net;
using System.Net.Sockets;
using GitHubActionsPort.Agent.Forwarding.Failover;

namespace GitHubActionsPort.Tests;

/// <summary>
/// Turning <c>--broker</c> URLs into brokers: an address is one broker, a host name one per address it resolves to
/// (connected by address, still named by host), the same instance named twice is tried once, and a name that does not
/// resolve is left out with its reason. The resolver is the test's: what is under test is the expansion, not DNS.
/// </summary>
public sealed class BrokerAddressesTests
{
    private static readonly Dictionary<string, IPAddress[]> Zone = new(StringComparer.OrdinalIgnoreCase)
    {
        ["brokers.internal"] = [IPAddress.Parse("10.0.0.5"), IPAddress.Parse("10.0.0.6"), IPAddress.Parse("fd00::7")],
        ["b5.internal"] = [IPAddress.Parse("10.0.0.5")],
        ["many.internal"] = Enumerable.Range(1, 20).Select(i => IPAddress.Parse($"10.1.0.{i}")).ToArray(),
        ["mapped.internal"] = [IPAddress.Parse("::ffff:10.0.0.9")],
    };

    [Test]
    public async Task HostNameWithSeveralAddresses_IsOneBrokerPerAddress_KeepingTheName()
    {
        var (endpoints, unresolved) = await ExpandAsync("https://brokers.internal:8470");

        Assert.That(unresolved, Is.Empty);
        Assert.That(endpoints.Select(e => e.Address!.ToString()), Is.EqualTo((string[])["10.0.0.5", "10.0.0.6", "fd00::7"]));
        Assert.That(endpoints.Select(e => e.Url.Host), Has.All.EqualTo("brokers.internal"), "TLS checks the certificate against the name, whichever address is dialled");
        Assert.That(endpoints[1].Name, Is.EqualTo("https://brokers.internal:8470 (10.0.0.6)"));
    }

    [Test]
    public async Task AddressLiterals_AreOneBrokerEach_WithoutAskingTheResolver()
    {
        var asked = 0;
        var (endpoints, _) = await BrokerAddresses.ExpandAsync(
            [new Uri("http://127.0.0.1:8470"), new Uri("http://[::1]:8470")],
            (host, _) =>
            {
                asked++;
                return Task.FromResult(Array.Empty<IPAddress>());
            },
            CancellationToken.None);

        Assert.That(asked, Is.Zero);
        Assert.That(endpoints.Select(e => e.Name), Is.EqualTo((string[])["http://127.0.0.1:8470", "http://[::1]:8470"]));
    }

    [Test]
    public async Task OrderIsKept_AcrossUrlsAndWithinAName()
    {
        var (endpoints, _) = await ExpandAsync("https://10.9.9.9:8470", "https://brokers.internal:8470");

        Assert.That(endpoints.Select(e => e.Address!.ToString()), Is.EqualTo((string[])["10.9.9.9", "10.0.0.5", "10.0.0.6", "fd00::7"]));
    }

    [Test]
    public async Task OneInstanceNamedTwice_IsTriedOnce()
    {
        var (endpoints, _) = await ExpandAsync("https://b5.internal:8470", "https://brokers.internal:8470", "https://10.0.0.6:8470");

        Assert.That(endpoints.Select(e => e.Address!.ToString()), Is.EqualTo((string[])["10.0.0.5", "10.0.0.6", "fd00::7"]));
        Assert.That(endpoints[0].Url.Host, Is.EqualTo("b5.internal"), "the first name given for an address is the one kept");
    }

    [Test]
    public async Task SameAddressOnAnotherPort_IsAnotherBroker()
    {
        var (endpoints, _) = await ExpandAsync("https://b5.internal:8470", "https://b5.internal:8480");

        Assert.That(endpoints, Has.Count.EqualTo(2));
    }

    [Test]
    public async Task UnresolvableName_IsLeftOutWithItsReason_TheOthersStay()
    {
        var (endpoints, unresolved) = await ExpandAsync("https://gone.internal:8470", "https://b5.internal:8470");

        Assert.That(endpoints.Select(e => e.Url.Host), Is.EqualTo((string[])["b5.internal"]));
        Assert.That(unresolved, Has.Count.EqualTo(1));
        Assert.That(unresolved[0], Does.Contain("gone.internal").And.Contain("does not resolve"));
    }

    [Test]
    public async Task ANameContributesAtMostAFewAddresses()
    {
        var (endpoints, _) = await ExpandAsync("https://many.internal:8470");

        Assert.That(endpoints, Has.Count.EqualTo(BrokerAddresses.MaxAddressesPerName));
    }

    [Test]
    public async Task MappedAddress_IsDialledAsPlainIPv4()
    {
        var (endpoints, _) = await ExpandAsync("https://mapped.internal:8470");

        Assert.That(endpoints.Single().Address, Is.EqualTo(IPAddress.Parse("10.0.0.9")));
    }

    private static Task<(IReadOnlyList<BrokerEndpoint> Endpoints, IReadOnlyList<string> Unresolved)> ExpandAsync(params string[] urls) =>
        BrokerAddresses.ExpandAsync(urls.Select(u => new Uri(u)).ToList(), Resolve, CancellationToken.None);

    private static Task<IPAddress[]> Resolve(string host, CancellationToken cancellationToken) =>
        Zone.TryGetValue(host, out var addresses)
            ? Task.FromResult(addresses)
            : Task.FromException<IPAddress[]>(new SocketException((int)SocketError.HostNotFound));
}
