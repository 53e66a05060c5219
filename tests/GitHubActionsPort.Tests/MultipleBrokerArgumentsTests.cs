using GitHubActionsPort.Agent.Cli;

namespace GitHubActionsPort.Tests;

/// <summary>
/// <c>--broker</c> given several times: kept in order, each checked as a lone one is, never mixing TLS with plain text,
/// never the same broker twice.
/// </summary>
public sealed class MultipleBrokerArgumentsTests
{
    [Test]
    public void SeveralBrokers_AreKeptInTheOrderGiven()
    {
        var parsed = UpArguments.Parse(["--broker", "https://b1.internal:8470", "--forward", "0:echo", "--broker", "https://b2.internal:8470", "--broker", "https://10.0.0.7:8470"]);

        Assert.That(parsed.Brokers.Select(b => b.Authority), Is.EqualTo((string[])["b1.internal:8470", "b2.internal:8470", "10.0.0.7:8470"]));
        Assert.That(parsed.Broker, Is.EqualTo(parsed.Brokers[0]), "the first broker is the one named where a single broker is meant");
    }

    [Test]
    public void OneBroker_IsAsBefore()
    {
        var parsed = UpArguments.Parse(["--broker", "http://127.0.0.1:8470", "--forward", "0:echo"]);

        Assert.That(parsed.Brokers, Has.Count.EqualTo(1));
        Assert.That(parsed.Broker, Is.EqualTo(new Uri("http://127.0.0.1:8470")));
    }

    [TestCase("https://b1.internal:8470", "http://127.0.0.1:8470")]
    [TestCase("http://127.0.0.1:8470", "https://b1.internal:8470")]
    public void MixedSchemes_AreRefused_NamingBoth(string first, string second)
    {
        var error = Assert.Throws<ArgumentException>(() => UpArguments.Parse(["--broker", first, "--broker", second, "--forward", "0:echo"]));

        Assert.That(error!.Message, Does.Contain("same scheme").And.Contain(new Uri(first).ToString()).And.Contain(second));
    }

    [TestCase("https://b1.internal:8470", "https://B1.internal:8470/")]
    [TestCase("https://b1.internal", "https://b1.internal:443")]
    [TestCase("http://127.0.0.1:8470", "http://127.0.0.1:8470/ghaport")]
    public void TheSameBrokerTwice_IsRefused(string first, string second)
    {
        var error = Assert.Throws<ArgumentException>(() => UpArguments.Parse(["--broker", first, "--broker", second, "--forward", "0:echo"]));

        Assert.That(error!.Message, Does.Contain("given twice").And.Contain(second));
    }

    [Test]
    public void SameHostOnAnotherPort_IsAnotherBroker()
    {
        var parsed = UpArguments.Parse(["--broker", "http://127.0.0.1:8470", "--broker", "http://127.0.0.1:8480", "--forward", "0:echo"]);

        Assert.That(parsed.Brokers, Has.Count.EqualTo(2));
    }

    [Test]
    public void EachBroker_IsCheckedAsALoneOneIs()
    {
        var error = Assert.Throws<ArgumentException>(() => UpArguments.Parse(["--broker", "https://b1.internal:8470", "--broker", "ftp://b2.internal", "--forward", "0:echo"]));

        Assert.That(error!.Message, Does.Contain("--broker 'ftp://b2.internal'").And.Contain("not an http(s) URL"));
    }

    [Test]
    public void CaCert_WithPlainBrokers_IsRefused()
    {
        var ca = Path.GetTempFileName();
        try
        {
            using var authority = TestCertificates.CreateCa("multi-broker test CA");
            File.WriteAllText(ca, authority.ExportCertificatePem());
            var error = Assert.Throws<ArgumentException>(() => UpArguments.Parse(["--broker", "http://127.0.0.1:1", "--broker", "http://127.0.0.1:2", "--forward", "0:echo", "--ca-cert", ca]));

            Assert.That(error!.Message, Does.Contain("--ca-cert").And.Contain("not an https URL"));
        }
        finally
        {
            File.Delete(ca);
        }
    }

    [Test]
    public void MoreBrokersThanTheLimit_AreRefused()
    {
        var args = new List<string> { "--forward", "0:echo" };
        for (var i = 0; i <= UpArguments.MaxBrokers; i++)
        {
            args.AddRange(["--broker", $"http://127.0.0.1:{8000 + i}"]);
        }

        var error = Assert.Throws<ArgumentException>(() => UpArguments.Parse(args));

        Assert.That(error!.Message, Does.Contain($"at most {UpArguments.MaxBrokers}"));
    }

    [Test]
    public void NoBroker_IsStillRequired()
    {
        var error = Assert.Throws<ArgumentException>(() => UpArguments.Parse(["--forward", "0:echo"]));

        Assert.That(error!.Message, Does.Contain("--broker URL is required"));
    }
}
