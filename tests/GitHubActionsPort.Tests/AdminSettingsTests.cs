using GitHubActionsPort.Broker.Admin;
using GitHubActionsPort.Broker.Configuration;
using Microsoft.Extensions.Configuration;

namespace GitHubActionsPort.Tests;

/// <summary><c>Broker:Admin:*</c>: loopback unless told otherwise, bad keys named at start-up, a credential made owner-only.</summary>
public sealed class AdminSettingsTests
{
    private DirectoryInfo _folder = null!;

    [SetUp]
    public void MakeFolder() => _folder = Directory.CreateTempSubdirectory("ghaport-admin-settings-");

    [TearDown]
    public void DeleteFolder() => _folder.Delete(recursive: true);

    [TestCase("Url", "http://10.1.2.3:8471", "is not on loopback")]
    [TestCase("Url", "https://127.0.0.1:8471", "plain HTTP")]
    [TestCase("Url", "ftp://127.0.0.1:21", "is not an http:// URL")]
    [TestCase("Url", "http://127.0.0.1:8471/admin", "scheme, host and port only")]
    [TestCase("Url", "http://admin.internal:8471", "IP address or localhost")]
    [TestCase("AllowRemote", "sometimes", "is not true or false")]
    [TestCase("Enabled", "yes", "is not true or false")]
    [TestCase("TokenFile", " ", "must name a file")]
    public void BadSetting_IsRefused_NamingTheKey(string key, string value, string problem)
    {
        var error = Assert.Throws<BrokerConfigurationException>(() => AdminSettings.Read(Configuration(($"Broker:Admin:{key}", value))));

        Assert.That(error!.Errors, Has.Some.StartsWith($"Broker:Admin:{key}:").And.Contains(problem));
    }

    [Test]
    public void RemoteUrl_IsAccepted_WhenAllowRemoteIsTrue()
    {
        var settings = AdminSettings.Read(Configuration(("Broker:Admin:Url", "http://0.0.0.0:8471"), ("Broker:Admin:AllowRemote", "true")));

        Assert.That(settings.Url, Is.EqualTo(new Uri("http://0.0.0.0:8471")));
    }

    [Test]
    public void Defaults_AreLoopback_AndACredentialBesideTheSigningKey()
    {
        var settings = AdminSettings.Read(Configuration(("Broker:Leases:SigningKeyPath", Path.Combine(_folder.FullName, "lease-signing-key.pem"))));

        Assert.That(settings.Url, Is.EqualTo(new Uri(AdminSettings.DefaultUrl)));
        Assert.That(settings.TokenFile, Is.EqualTo(Path.Combine(_folder.FullName, "admin-token")));
    }

    [Test]
    public void MissingDefaultCredential_IsMadeOwnerOnly_AndKeptAcrossStarts()
    {
        var settings = AdminSettings.Read(Configuration(("Broker:Leases:SigningKeyPath", Path.Combine(_folder.FullName, "keys", "lease-signing-key.pem"))));

        var first = AdminCredential.LoadOrCreate(settings);
        var second = AdminCredential.LoadOrCreate(settings);
        var token = File.ReadAllText(settings.TokenFile).Trim();

        Assert.That(first.Created, Is.True);
        Assert.That(second.Created, Is.False);
        Assert.That(token, Has.Length.GreaterThanOrEqualTo(AdminCredential.MinLength));
        Assert.That(second.Matches(token), Is.True);
        Assert.That(second.Matches(token + "x"), Is.False);
        Assert.That(second.Matches(null), Is.False);
        if (!OperatingSystem.IsWindows())
        {
            Assert.That(File.GetUnixFileMode(settings.TokenFile), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
        }
    }

    [Test]
    public void ConfiguredCredentialFile_MustExist_AndHoldALongEnoughSecret()
    {
        var missing = AdminSettings.Read(Configuration(("Broker:Admin:TokenFile", Path.Combine(_folder.FullName, "nope"))));
        var shortFile = Path.Combine(_folder.FullName, "short");
        File.WriteAllText(shortFile, "hunter2");
        var tooShort = AdminSettings.Read(Configuration(("Broker:Admin:TokenFile", shortFile)));

        Assert.That(() => AdminCredential.LoadOrCreate(missing), Throws.TypeOf<BrokerConfigurationException>().With.Message.Contains("Broker:Admin:TokenFile: cannot read"));
        Assert.That(() => AdminCredential.LoadOrCreate(tooShort), Throws.TypeOf<BrokerConfigurationException>().With.Message.Contains($"at least {AdminCredential.MinLength} characters"));
        Assert.That(File.Exists(Path.Combine(_folder.FullName, "nope")), Is.False, "a configured credential is never made up");
    }

    private static IConfiguration Configuration(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value))).Build();
}
