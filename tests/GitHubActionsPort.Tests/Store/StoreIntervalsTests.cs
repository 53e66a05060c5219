using GitHubActionsPort.Broker.Configuration;
using GitHubActionsPort.Broker.Store;
using Microsoft.Extensions.Configuration;

namespace GitHubActionsPort.Tests.Store;

/// <summary><c>Broker:Store</c>'s timing keys: read with their defaults, and a bad one refused naming its key.</summary>
public sealed class StoreIntervalsTests
{
    [Test]
    public void Defaults_AreTheDocumentedOnes()
    {
        var settings = Read([]);

        Assert.That((settings.MaxStaleness, settings.HeartbeatInterval, settings.InstanceTimeout, settings.PollInterval),
            Is.EqualTo((TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(1))));
    }

    [Test]
    public void GivenDurations_AreRead()
    {
        var settings = Read(new() { ["Broker:Store:MaxStaleness"] = "2m", ["Broker:Store:HeartbeatInterval"] = "2s", ["Broker:Store:InstanceTimeout"] = "10s", ["Broker:Store:PollInterval"] = "00:00:00.5" });

        Assert.That((settings.MaxStaleness, settings.HeartbeatInterval, settings.InstanceTimeout, settings.PollInterval),
            Is.EqualTo((TimeSpan.FromMinutes(2), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(500))));
    }

    [TestCase("Broker:Store:MaxStaleness", "60", "Broker:Store:MaxStaleness")]
    [TestCase("Broker:Store:PollInterval", "-1s", "Broker:Store:PollInterval")]
    [TestCase("Broker:Store:InstanceTimeout", "8s", "must be more than twice Broker:Store:HeartbeatInterval")]
    public void BadValue_IsRefused_NamingTheKey(string key, string value, string expected)
    {
        var error = Assert.Throws<BrokerConfigurationException>(() => Read(new() { [key] = value }));

        Assert.That(error!.Errors, Has.Exactly(1).Contains(expected));
    }

    private static StoreSettings Read(Dictionary<string, string?> values) =>
        StoreSettingsReader.Read(new ConfigurationBuilder().AddInMemoryCollection(values).Build());
}
