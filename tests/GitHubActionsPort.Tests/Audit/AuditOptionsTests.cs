using GitHubActionsPort.Broker.Audit;
using GitHubActionsPort.Broker.Configuration;
using Microsoft.Extensions.Configuration;

namespace GitHubActionsPort.Tests.Audit;

/// <summary>The audit keys added for retention and refusal aggregation: defaults, and a bad value named by its key.</summary>
public sealed class AuditOptionsTests
{
    [Test]
    public void Defaults_KeepEveryFile_AndAggregateRefusalsPerMinute()
    {
        var options = Read(new Dictionary<string, string?> { ["Broker:Audit:Path"] = "audit.jsonl" });

        Assert.That(options.MaxFiles, Is.Zero);
        Assert.That(options.MaxTotalBytes, Is.Zero);
        Assert.That(options.RefusalInterval, Is.EqualTo(TimeSpan.FromMinutes(1)));
        Assert.That(options.MaxRefusalGroups, Is.EqualTo(100));
    }

    [Test]
    public void ConfiguredValues_AreRead()
    {
        var options = Read(new Dictionary<string, string?>
        {
            ["Broker:Audit:Path"] = "audit.jsonl",
            ["Broker:Audit:MaxFiles"] = "10",
            ["Broker:Audit:MaxTotalBytes"] = "1073741824",
            ["Broker:Audit:RefusalInterval"] = "00:00:30",
            ["Broker:Audit:MaxRefusalGroups"] = "500",
        });

        Assert.That(options.MaxFiles, Is.EqualTo(10));
        Assert.That(options.MaxTotalBytes, Is.EqualTo(1L << 30));
        Assert.That(options.RefusalInterval, Is.EqualTo(TimeSpan.FromSeconds(30)));
        Assert.That(options.MaxRefusalGroups, Is.EqualTo(500));
    }

    [TestCase("MaxFiles", "1")]
    [TestCase("MaxFiles", "-3")]
    [TestCase("MaxTotalBytes", "1000")]
    [TestCase("MaxTotalBytes", "lots")]
    [TestCase("RefusalInterval", "00:00:00")]
    [TestCase("RefusalInterval", "02:00:00")]
    [TestCase("MaxRefusalGroups", "0")]
    public void BadValue_IsRefused_NamingItsKey(string key, string value)
    {
        var error = Assert.Throws<BrokerConfigurationException>(() => Read(new Dictionary<string, string?> { ["Broker:Audit:Path"] = "audit.jsonl", [$"Broker:Audit:{key}"] = value }));

        Assert.That(error!.Errors, Has.One.StartsWith($"Broker:Audit:{key}: '{value}'"));
    }

    private static AuditOptions Read(Dictionary<string, string?> values) =>
        AuditServiceCollectionExtensions.ReadOptions(new ConfigurationBuilder().AddInMemoryCollection(values).Build());
}
