using GitHubActionsPort.Broker.Configuration;
using GitHubActionsPort.Protocol;
using Microsoft.Extensions.Configuration;

namespace GitHubActionsPort.Tests;

/// <summary>
/// One way to write a duration, on both command lines and in the broker's configuration: a number with its unit or a
/// clock; a bare number (which <see cref="TimeSpan"/> alone reads as days) is an error that shows the forms.
/// </summary>
public sealed class DurationTextTests
{
    [TestCase("90s", 90)]
    [TestCase("30m", 30 * 60)]
    [TestCase("2h", 2 * 3600)]
    [TestCase("1d", 86_400)]
    [TestCase("1.5h", 90 * 60)]
    [TestCase("500ms", 0.5)]
    [TestCase("00:15:00", 15 * 60)]
    [TestCase("1.02:00:00", 26 * 3600)]
    [TestCase("00:00:00.002", 0.002)]
    [TestCase(" 30m ", 30 * 60)]
    public void DocumentedForms_AreRead(string text, double seconds)
    {
        Assert.That(DurationText.TryParse(text, out var value, out var error), Is.True, error);
        Assert.That(value, Is.EqualTo(TimeSpan.FromSeconds(seconds)));
    }

    [TestCase("30")]
    [TestCase("1.5")]
    public void BareNumber_IsErrorShowingForms(string text)
    {
        Assert.That(DurationText.TryParse(text, out _, out var error), Is.False);
        Assert.That(error, Does.Contain($"'{text}' has no unit").And.Contain($"{text}m").And.Contain(DurationText.Forms));
    }

    [TestCase("-30m")]
    [TestCase("-00:05:00")]
    [TestCase("soon")]
    [TestCase("")]
    [TestCase("1:30")]
    [TestCase("30 m")]
    [TestCase("30min")]
    [TestCase("1e3s")]
    [TestCase("+5m")]
    [TestCase("99999999999999999d")]
    [TestCase("25:00:00")]
    [TestCase("1:02:03:04")]
    [TestCase("00:60:00")]
    public void Malformed_IsRefused_ShowingTheForms(string text)
    {
        Assert.That(DurationText.TryParse(text, out _, out var error), Is.False);
        Assert.That(error, Does.Contain(DurationText.Forms));
    }

    [TestCase("Broker:Leases:DefaultTtl", "30m", 30 * 60)]
    [TestCase("Broker:Leases:MaxTtl", "2h", 2 * 3600)]
    [TestCase("Broker:Rules:0:MaxTtl", "45m", 45 * 60)]
    [TestCase("Broker:Transport:ConnectTimeout", "5s", 5)]
    [TestCase("Broker:Transport:SessionTimeout", "00:00:20", 20)]
    public void Configuration_DurationWithUnit_IsAccepted(string key, string text, int seconds)
    {
        var settings = Read(key, text);

        var read = key switch
        {
            "Broker:Leases:DefaultTtl" => settings.Leases.DefaultTtl,
            "Broker:Leases:MaxTtl" => settings.Leases.MaxTtl,
            "Broker:Rules:0:MaxTtl" => settings.Rules[0].MaxTtl,
            "Broker:Transport:ConnectTimeout" => settings.Transport.ConnectTimeout,
            _ => settings.Transport.SessionTimeout,
        };
        Assert.That(read, Is.EqualTo(TimeSpan.FromSeconds(seconds)));
    }

    [TestCase("Broker:Leases:DefaultTtl")]
    [TestCase("Broker:Rules:0:MaxTtl")]
    [TestCase("Broker:Transport:ConnectTimeout")]
    [TestCase("Broker:Transport:IdleConnectionTimeout")]
    public void Configuration_BareNumber_IsRefused_NamingTheKey(string key)
    {
        // Read as TimeSpan, "30" was thirty days, within the 30-day bound: silently accepted.
        var error = Assert.Throws<BrokerConfigurationException>(() => Read(key, "30"));

        Assert.That(error!.Errors, Has.Some.Contains(key).And.Contains("'30' has no unit").And.Contains(DurationText.Forms));
    }

    private static BrokerSettings Read(string key, string value) =>
        BrokerSettingsReader.Read(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Broker:Issuers:0:Issuer"] = "https://token.actions.githubusercontent.com",
            ["Broker:Targets:db"] = "db.internal:5432",
            ["Broker:Rules:0:Targets:0"] = "db",
            ["Broker:Rules:0:Claims:repository"] = "acme/app",
            [key] = value,
        }).Build());
}
