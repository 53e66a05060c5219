using GitHubActionsPort.Broker.Configuration;
using GitHubActionsPort.Broker.RawLane;
using Microsoft.Extensions.Configuration;

namespace GitHubActionsPort.Tests.RawLane;

/// <summary><c>Broker:Lanes:*</c>: sensible defaults beside the broker's own URL, and each mistake named by its key.</summary>
public sealed class LaneSettingsTests
{
    [Test]
    public void Defaults_FollowTheBrokersSchemeAndHost_OnPort8472()
    {
        var plain = Read(tls: false, ("urls", "http://10.0.0.5:8470"));
        Assert.That(plain.RawUrl, Is.EqualTo(new Uri("http://10.0.0.5:8472")));
        Assert.That(plain.GrpcEnabled && plain.RawEnabled, Is.True);

        var secure = Read(tls: true, ("urls", "https://*:443"));
        Assert.That(secure.RawUrl, Is.EqualTo(new Uri("https://0.0.0.0:8472")));
        Assert.That(secure.RawUsesTls, Is.True);

        Assert.That(Read(tls: false).RawUrl, Is.EqualTo(new Uri("http://127.0.0.1:8472")), "no urls: the broker's default, 127.0.0.1");
    }

    [Test]
    public void BrokerOnPortZero_PutsTheRawLaneOnPortZeroToo() =>
        Assert.That(Read(tls: false, ("urls", "http://127.0.0.1:0")).RawUrl.Port, Is.Zero);

    [Test]
    public void ExplicitUrl_AdvertisedPort_AndTimeouts_AreRead()
    {
        var settings = Read(tls: true,
            ("urls", "https://0.0.0.0:8470"),
            ("Broker:Lanes:Raw:Url", "https://[::]:9443"),
            ("Broker:Lanes:Raw:AdvertisedPort", "443"),
            ("Broker:Lanes:Raw:IdleTimeout", "00:00:30"),
            ("Broker:Lanes:Raw:HandshakeTimeout", "00:00:02"));

        Assert.That(settings.RawUrl.Port, Is.EqualTo(9443));
        Assert.That(settings.RawBindAddress, Is.EqualTo(System.Net.IPAddress.IPv6Any));
        Assert.That(settings.RawAdvertisedPort, Is.EqualTo(443));
        Assert.That(settings.RawIdleTimeout, Is.EqualTo(TimeSpan.FromSeconds(30)));
        Assert.That(settings.RawHandshakeTimeout, Is.EqualTo(TimeSpan.FromSeconds(2)));
    }

    [TestCase("Broker:Lanes:Raw:Url", "ftp://0.0.0.0:1", "Broker:Lanes:Raw:Url: 'ftp://0.0.0.0:1' is not an https://")]
    [TestCase("Broker:Lanes:Raw:Url", "http://0.0.0.0:1/path", "must be scheme, host and port only")]
    [TestCase("Broker:Lanes:Raw:Url", "http://broker.internal:1", "the host must be an IP address")]
    [TestCase("Broker:Lanes:Raw:Url", "https://0.0.0.0:1", "Broker:Tls names no certificate")]
    [TestCase("Broker:Lanes:Raw:AdvertisedPort", "70000", "Broker:Lanes:Raw:AdvertisedPort: '70000' is not a port number")]
    [TestCase("Broker:Lanes:Raw:IdleTimeout", "soon", "Broker:Lanes:Raw:IdleTimeout: 'soon' is not a duration (90s, 30m, 2h, hh:mm:ss or d.hh:mm:ss)")]
    [TestCase("Broker:Lanes:Raw:Enabled", "yes", "Broker:Lanes:Raw:Enabled: 'yes' is not true or false")]
    public void BadSetting_IsNamedWithWhatIsWrong(string key, string value, string expected)
    {
        var error = Assert.Throws<BrokerConfigurationException>(() => Read(tls: false, ("urls", "http://127.0.0.1:8470"), (key, value)));
        Assert.That(error!.Message, Does.Contain(expected));
    }

    [Test]
    public void PlainRawLane_BesideAnHttpsBroker_IsRefused()
    {
        var error = Assert.Throws<BrokerConfigurationException>(() => Read(tls: true, ("urls", "https://0.0.0.0:8470"), ("Broker:Lanes:Raw:Url", "http://0.0.0.0:8472")));
        Assert.That(error!.Message, Does.Contain("Broker:Lanes:Raw:Url").And.Contain("must use TLS too"));
    }

    [Test]
    public void BothLanesOff_IsRefused()
    {
        var error = Assert.Throws<BrokerConfigurationException>(() => Read(tls: false, ("Broker:Lanes:Grpc:Enabled", "false"), ("Broker:Lanes:Raw:Enabled", "false")));
        Assert.That(error!.Message, Does.Contain("both disabled"));
    }

    [Test]
    public void RawLaneOff_IgnoresItsUrlRules() =>
        Assert.That(Read(tls: false, ("Broker:Lanes:Raw:Enabled", "false"), ("Broker:Lanes:Raw:Url", "https://0.0.0.0:1")).RawEnabled, Is.False);

    private static LaneSettings Read(bool tls, params (string Key, string Value)[] values)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value)))
            .Build();
        return LaneSettings.Read(configuration, tls);
    }
}
