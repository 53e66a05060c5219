using GitHubActionsPort.Broker.Configuration;
using GitHubActionsPort.Broker.Hosting;
using GitHubActionsPort.Broker.Policy;
using GitHubActionsPort.Broker.RawLane;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace GitHubActionsPort.Tests;

/// <summary>
/// The <c>Broker</c> section is read once at start-up: a good one reads back as written, a bad one stops the broker
/// with every bad key named.
/// </summary>
public sealed class BrokerConfigurationTests
{
    private readonly List<string> _files = [];

    /// <summary>Each case: what to change in a valid configuration, and what the error must say.</summary>
    private static IEnumerable<TestCaseData> BadConfigurations()
    {
        static TestCaseData Case(string name, Action<Dictionary<string, string?>> change, params string[] expected) =>
            new TestCaseData(change, expected).SetName(name);

        yield return Case("NoIssuers_NamesBrokerIssuers", c => RemoveUnder(c, "Broker:Issuers"), "Broker:Issuers");
        yield return Case("IssuerMissing_NamesTheIssuerKey", c => c.Remove("Broker:Issuers:0:Issuer"), "Broker:Issuers:0:Issuer");
        yield return Case("IssuerNotAUrl_NamesTheIssuerKey", c => c["Broker:Issuers:0:Issuer"] = "token.actions.githubusercontent.com", "Broker:Issuers:0:Issuer");
        yield return Case("IssuerWithQuery_NamesTheIssuerKey", c => c["Broker:Issuers:0:Issuer"] = "https://issuer.example/?tenant=1", "Broker:Issuers:0:Issuer");
        yield return Case("HttpIssuerOffLoopback_NamesTheIssuerKey_AndAsksForHttps", c => c["Broker:Issuers:0:Issuer"] = "http://issuer.example", "Broker:Issuers:0:Issuer", "https");
        yield return Case("EmptyAudience_NamesTheAudiencesKey", c => c["Broker:Issuers:0:Audiences:0"] = "", "Broker:Issuers:0:Audiences");
        yield return Case("TargetNameWithCapitalsAndUnderscore_NamesTheTargetKey", c => c["Broker:Targets:Prod_DB"] = "db.internal:5432", "Broker:Targets:Prod_DB");
        yield return Case("TargetNameWithFinalNewline_NamesTheTargetKey", c => c["Broker:Targets:db\n"] = "db.internal:5432", "Broker:Targets:db");
        yield return Case("TargetWithoutPort_NamesTheTargetKey", c => c["Broker:Targets:db"] = "db.internal", "Broker:Targets:db", "HOST:PORT");
        yield return Case("TargetPortZero_NamesTheTargetKey", c => c["Broker:Targets:db"] = "db.internal:0", "Broker:Targets:db");
        yield return Case("TargetPort70000_NamesTheTargetKey", c => c["Broker:Targets:db"] = "db.internal:70000", "Broker:Targets:db");
        yield return Case("TargetIpv6WithoutBrackets_NamesTheTargetKey", c => c["Broker:Targets:db"] = "fd00::1:5432", "Broker:Targets:db");
        yield return Case("TargetHostWithSpace_NamesTheTargetKey", c => c["Broker:Targets:db"] = "db internal:5432", "Broker:Targets:db");
        yield return Case("RuleWithoutClaims_NamesTheRuleAndClaims", c => RemoveUnder(c, "Broker:Rules:0:Claims"), "Broker:Rules:0", "Claims");
        yield return Case("RuleWithoutTargets_NamesTheRuleAndTargets", c => RemoveUnder(c, "Broker:Rules:0:Targets"), "Broker:Rules:0", "Targets");
        yield return Case("RuleNamingUndefinedTarget_NamesTheRuleKeyAndTarget", c => c["Broker:Rules:0:Targets:0"] = "nosuch", "Broker:Rules:0", "'nosuch'");
        yield return Case("RuleMaxTtlNotADuration_NamesTheKey", c => c["Broker:Rules:0:MaxTtl"] = "soon", "Broker:Rules:0:MaxTtl");
        yield return Case("RuleMaxTtlNegative_NamesTheKey", c => c["Broker:Rules:0:MaxTtl"] = "-00:10:00", "Broker:Rules:0:MaxTtl");
        yield return Case("RuleMaxConnectionsZero_NamesTheKey", c => c["Broker:Rules:0:MaxConnections"] = "0", "Broker:Rules:0:MaxConnections");
        yield return Case("RuleMaxConnectionsNotANumber_NamesTheKey", c => c["Broker:Rules:0:MaxConnections"] = "many", "Broker:Rules:0:MaxConnections");
        yield return Case("TripleStarGlob_NamesTheClaimKey", c => c["Broker:Rules:0:Claims:repository"] = "acme/***", "Broker:Rules:0", "Claims:repository", "'***'");
        yield return Case("EmptyGlobInList_NamesTheClaimKey", c => c["Broker:Rules:0:Claims:ref:1"] = "", "Broker:Rules:0", "Claims:ref");
        yield return Case("DefaultTtlZero_NamesTheKey", c => c["Broker:Leases:DefaultTtl"] = "00:00:00", "Broker:Leases:DefaultTtl");
        yield return Case("LeasesMaxTtlNegative_NamesTheKey", c => c["Broker:Leases:MaxTtl"] = "-01:00:00", "Broker:Leases:MaxTtl");
        yield return Case("DefaultTtlLongerThanMaxTtl_NamesBothKeys", c => c["Broker:Leases:DefaultTtl"] = "03:00:00", "Broker:Leases:DefaultTtl", "Broker:Leases:MaxTtl");
        yield return Case("DefaultTtlLongerThanDefaultMaxTtl_NamesTheKey", c =>
        {
            c.Remove("Broker:Leases:MaxTtl");
            c["Broker:Leases:DefaultTtl"] = "7.00:00:00";
        }, "Broker:Leases:DefaultTtl");
        yield return Case("ConnectTimeoutZero_NamesTheKey", c => c["Broker:Transport:ConnectTimeout"] = "00:00:00", "Broker:Transport:ConnectTimeout");
        yield return Case("KeepAlivePingDelayNegative_NamesTheKey", c => c["Broker:Transport:KeepAlivePingDelay"] = "-00:00:30", "Broker:Transport:KeepAlivePingDelay");
        yield return Case("StreamWindowBelowHttp2Minimum_NamesTheKey", c => c["Broker:Transport:StreamWindowSize"] = "1000", "Broker:Transport:StreamWindowSize");
        yield return Case("MaxStreamsPerConnectionZero_NamesTheKey", c => c["Broker:Transport:MaxStreamsPerConnection"] = "0", "Broker:Transport:MaxStreamsPerConnection");
        yield return Case("MaxTunnelsZero_NamesTheKey", c => c["Broker:Transport:MaxTunnels"] = "0", "Broker:Transport:MaxTunnels");
        yield return Case("DrainTimeoutNegative_NamesTheKey", c => c["Broker:Transport:DrainTimeout"] = "-30s", "Broker:Transport:DrainTimeout");
        yield return Case("DrainTimeoutWithoutUnit_NamesTheKey", c => c["Broker:Transport:DrainTimeout"] = "30", "Broker:Transport:DrainTimeout", "no unit");
        yield return Case("DrainTimeoutOverThirtyDays_NamesTheKey", c => c["Broker:Transport:DrainTimeout"] = "31d", "Broker:Transport:DrainTimeout", "30 days");
        yield return Case("LeasesMaxTtlBeyondThirtyDays_NamesTheKey", c => c["Broker:Leases:MaxTtl"] = "31.00:00:00", "Broker:Leases:MaxTtl", "30 days");
        yield return Case("SameIssuerTwice_NamesTheSecondIssuerKey", c => c["Broker:Issuers:1:Issuer"] = c["Broker:Issuers:0:Issuer"], "Broker:Issuers:1:Issuer", "twice");
        yield return Case("RuleWithoutIssuer_WhenRuleIssuersRequired_NamesTheRuleIssuerKey", c =>
        {
            c.Remove("Broker:Rules:0:Issuer");
            c["Broker:RequireRuleIssuers"] = "true";
        }, "Broker:Rules:0", "Issuer", "RequireRuleIssuers");
        yield return Case("RequireRuleIssuersNotABoolean_NamesTheKey", c => c["Broker:RequireRuleIssuers"] = "yes", "Broker:RequireRuleIssuers", "true or false");
        yield return Case("RuleIssuerNotConfigured_NamesTheRuleIssuerKey", c => c["Broker:Rules:0:Issuer"] = "https://elsewhere.example", "Broker:Rules:0", "Issuer", "not one of Broker:Issuers");
        yield return Case("RuleIssuerListWithOneNotConfigured_NamesThatIssuer", c =>
        {
            c.Remove("Broker:Rules:0:Issuer");
            c["Broker:Rules:0:Issuer:0"] = "https://token.actions.githubusercontent.com";
            c["Broker:Rules:0:Issuer:1"] = "https://elsewhere.example";
        }, "Broker:Rules:0", "Issuer", "'https://elsewhere.example'", "not one of Broker:Issuers");
        yield return Case("RuleIssuerEmpty_NamesTheRuleIssuerKey", c => c["Broker:Rules:0:Issuer"] = "", "Broker:Rules:0", "Issuer", "empty");
        yield return Case("NotClaimsTripleStarGlob_NamesTheNotClaimKey", c => c["Broker:Rules:0:NotClaims:ref"] = "refs/***", "Broker:Rules:0", "NotClaims:ref", "'***'");
        yield return Case("RuleWithOnlyNotClaims_NamesTheRuleAndClaims", c =>
        {
            RemoveUnder(c, "Broker:Rules:0:Claims");
            c["Broker:Rules:0:NotClaims:ref"] = "refs/heads/wip/**";
        }, "Broker:Rules:0", "Claims", "at least one claim");
        yield return Case("RuleKeyMisspelt_NamesTheUnknownKey", c => c["Broker:Rules:0:NotClaim:ref"] = "refs/heads/wip/**", "Broker:Rules:0", "NotClaim", "unknown key");
        yield return Case("TargetObjectWithoutAddress_NamesTheAddressKey", c =>
        {
            c.Remove("Broker:Targets:db");
            c["Broker:Targets:db:AllowPrivateAddresses"] = "true";
        }, "Broker:Targets:db:Address", "required");
        yield return Case("TargetObjectAddressWithoutPort_NamesTheAddressKey", c =>
        {
            c.Remove("Broker:Targets:db");
            c["Broker:Targets:db:Address"] = "db.internal";
        }, "Broker:Targets:db:Address", "HOST:PORT");
        yield return Case("TargetAllowPrivateAddressesNotABoolean_NamesTheKey", c =>
        {
            c.Remove("Broker:Targets:db");
            c["Broker:Targets:db:Address"] = "db.internal:5432";
            c["Broker:Targets:db:AllowPrivateAddresses"] = "sometimes";
        }, "Broker:Targets:db:AllowPrivateAddresses", "true or false");
        yield return Case("TargetObjectKeyMisspelt_NamesTheUnknownKey", c =>
        {
            c.Remove("Broker:Targets:db");
            c["Broker:Targets:db:Address"] = "db.internal:5432";
            c["Broker:Targets:db:AllowPrivateAddress"] = "true";
        }, "Broker:Targets:db:AllowPrivateAddress", "unknown key");
    }

    [TearDown]
    public void DeleteFiles()
    {
        foreach (var file in _files)
        {
            File.Delete(file);
        }

        _files.Clear();
    }

    [TestCaseSource(nameof(BadConfigurations))]
    public void BadConfiguration_Throws_NamingTheKey(Action<Dictionary<string, string?>> change, string[] expected)
    {
        var configuration = ValidConfiguration();
        change(configuration);

        var error = Assert.Throws<BrokerConfigurationException>(() => Read(configuration));

        Assert.That(error!.Errors, Is.Not.Empty);
        var named = error.Errors.Where(e => expected.All(part => e.Contains(part, StringComparison.Ordinal))).ToList();
        Assert.That(named, Is.Not.Empty, $"no single error holds all of [{string.Join(", ", expected)}]; errors were:{Environment.NewLine}{string.Join(Environment.NewLine, error.Errors)}");
        Assert.That(error.Message, Does.Contain(named[0]), "the exception's message carries every error");
    }

    [Test]
    public void SeveralProblems_AreAllReported_AtOnce()
    {
        var configuration = ValidConfiguration();
        configuration["Broker:Targets:db"] = "db.internal";
        configuration["Broker:Rules:0:MaxConnections"] = "0";
        configuration["Broker:Leases:DefaultTtl"] = "never";

        var error = Assert.Throws<BrokerConfigurationException>(() => Read(configuration));

        Assert.That(error!.Errors, Has.Some.Contains("Broker:Targets:db"));
        Assert.That(error.Errors, Has.Some.Contains("Broker:Rules:0:MaxConnections"));
        Assert.That(error.Errors, Has.Some.Contains("Broker:Leases:DefaultTtl"));
    }

    [Test]
    public void ValidConfiguration_ReadsBackAsWritten()
    {
        var settings = Read(ValidConfiguration());

        Assert.That(settings.Issuers, Has.Count.EqualTo(2));
        Assert.That(settings.Issuers[0].Issuer, Is.EqualTo("https://token.actions.githubusercontent.com"));
        Assert.That(settings.Issuers[0].Audiences, Is.EqualTo(new List<string> { "ghaport", "ghaport-staging" }));
        Assert.That(settings.Issuers[1].Issuer, Is.EqualTo("http://127.0.0.1:5555"), "plain http is fine on loopback");

        Assert.That(settings.Targets, Has.Count.EqualTo(2));
        Assert.That(settings.Targets["db"], Is.EqualTo(new TargetAddress("db.internal", 5432)));
        Assert.That(settings.Targets["api"], Is.EqualTo(new TargetAddress("fd00::1", 8443)));
        Assert.That(settings.Targets["api"].ToString(), Is.EqualTo("[fd00::1]:8443"));

        var rule = settings.Rules.Single();
        Assert.That(rule.Name, Is.EqualTo("deploy-db"));
        Assert.That(rule.Targets, Is.EqualTo(new List<string> { "db", "api" }));
        Assert.That(rule.Claims.Keys, Is.EquivalentTo(new List<string> { "repository", "ref" }));
        Assert.That(rule.Claims["repository"].Select(p => p.Text), Is.EqualTo(new List<string> { "acme/app" }));
        Assert.That(rule.Claims["ref"].Select(p => p.Text), Is.EqualTo(new List<string> { "refs/heads/main", "refs/tags/v*" }));
        Assert.That(rule.MaxTtl, Is.EqualTo(TimeSpan.FromMinutes(30)));
        Assert.That(rule.MaxConnections, Is.EqualTo(8));

        Assert.That(settings.Leases.DefaultTtl, Is.EqualTo(TimeSpan.FromMinutes(10)));
        Assert.That(settings.Leases.MaxTtl, Is.EqualTo(TimeSpan.FromHours(2)));
        Assert.That(settings.Transport.ConnectTimeout, Is.EqualTo(TimeSpan.FromSeconds(3)));
        Assert.That(settings.Transport.StreamWindowSize, Is.EqualTo(1024 * 1024));
    }

    [Test]
    public void MinimalConfiguration_GetsTheDocumentedDefaults()
    {
        var settings = Read(new Dictionary<string, string?>
        {
            ["Broker:Issuers:0:Issuer"] = "https://token.actions.githubusercontent.com",
            ["Broker:Targets:db"] = "db.internal:5432",
            ["Broker:Rules:0:Targets:0"] = "db",
            ["Broker:Rules:0:Claims:repository"] = "acme/app",
        });

        Assert.That(settings.Issuers.Single().Audiences, Is.EqualTo(new List<string> { "ghaport" }));
        var rule = settings.Rules.Single();
        Assert.That(rule.Name, Is.Not.Empty);
        Assert.That(rule.MaxTtl, Is.Null);
        Assert.That(rule.MaxConnections, Is.EqualTo(16));
        Assert.That(settings.Leases.DefaultTtl, Is.EqualTo(TimeSpan.FromMinutes(15)));
        Assert.That(settings.Leases.MaxTtl, Is.EqualTo(TimeSpan.FromHours(6)));
        Assert.That(settings.Transport.ConnectTimeout, Is.EqualTo(TimeSpan.FromSeconds(10)));
        Assert.That(settings.Transport.ConnectionWindowSize, Is.EqualTo(16 * 1024 * 1024));
        Assert.That(settings.Transport.StreamWindowSize, Is.EqualTo(4 * 1024 * 1024));
        Assert.That(settings.Transport.MaxStreamsPerConnection, Is.EqualTo(100));
    }

    [Test]
    public void RuleWithoutIssuer_JudgesEveryConfiguredIssuer_AndIsMarkedDefaulted()
    {
        var configuration = ValidConfiguration();
        configuration.Remove("Broker:Rules:0:Issuer");

        var rule = Read(configuration).Rules.Single();

        Assert.That(rule.Issuers, Is.EqualTo(new List<string> { "https://token.actions.githubusercontent.com", "http://127.0.0.1:5555" }));
        Assert.That(rule.IssuerDefaulted, Is.True);
        Assert.That(rule.Key, Is.EqualTo("Broker:Rules:0"));
    }

    [Test]
    public void RuleIssuer_MayBeAList()
    {
        var configuration = ValidConfiguration();
        configuration.Remove("Broker:Rules:0:Issuer");
        configuration["Broker:Rules:0:Issuer:0"] = "http://127.0.0.1:5555";
        configuration["Broker:Rules:0:Issuer:1"] = "https://token.actions.githubusercontent.com";

        var rule = Read(configuration).Rules.Single();

        Assert.That(rule.Issuers, Is.EqualTo(new List<string> { "http://127.0.0.1:5555", "https://token.actions.githubusercontent.com" }));
        Assert.That(rule.IssuerDefaulted, Is.False);
    }

    [Test]
    public void RuleIssuer_NamedOnce_IsNotDefaulted()
    {
        var rule = Read(ValidConfiguration()).Rules.Single();

        Assert.That(rule.Issuers, Is.EqualTo(new List<string> { "https://token.actions.githubusercontent.com" }));
        Assert.That(rule.IssuerDefaulted, Is.False);
    }

    [Test]
    public void NotClaims_ReadBackAsWritten_OneOrAList()
    {
        var configuration = ValidConfiguration();
        configuration["Broker:Rules:0:NotClaims:ref:0"] = "refs/heads/wip/**";
        configuration["Broker:Rules:0:NotClaims:ref:1"] = "refs/heads/tmp-*";
        configuration["Broker:Rules:0:NotClaims:actor"] = "dependabot[bot]";

        var rule = Read(configuration).Rules.Single();

        Assert.That(rule.NotClaims.Keys, Is.EquivalentTo(new List<string> { "ref", "actor" }));
        Assert.That(rule.NotClaims["ref"].Select(p => p.Text), Is.EqualTo(new List<string> { "refs/heads/wip/**", "refs/heads/tmp-*" }));
        Assert.That(rule.NotClaims["actor"].Select(p => p.Text), Is.EqualTo(new List<string> { "dependabot[bot]" }));
    }

    [Test]
    public void TargetAsObject_ReadsAddressAndAllowPrivateAddresses_AndAStringTargetAllowsNone()
    {
        var configuration = ValidConfiguration();
        configuration["Broker:Targets:local:Address"] = "localhost:8080";
        configuration["Broker:Targets:local:AllowPrivateAddresses"] = "true";
        configuration["Broker:Targets:plain:Address"] = "plain.internal:80";

        var targets = Read(configuration).Targets;

        Assert.That(targets["local"], Is.EqualTo(new TargetAddress("localhost", 8080) { AllowPrivateAddresses = true }));
        Assert.That(targets["plain"], Is.EqualTo(new TargetAddress("plain.internal", 80)));
        Assert.That(targets["db"].AllowPrivateAddresses, Is.False);
        Assert.That(targets["db"].LiteralAddress, Is.Null, "a host name is resolved at dial time");
        Assert.That(targets["api"].LiteralAddress, Is.EqualTo(System.Net.IPAddress.Parse("fd00::1")), "a literal address is dialled as written");
    }

    [Test]
    public async Task BrokerProcess_DevMode_ConfigRuleWithoutIssuer_ExitsWithConfigurationError_NamingTheRule()
    {
        var configuration = ValidConfiguration();
        configuration.Remove("Broker:Rules:0:Issuer");
        var file = JsonFile(configuration);

        var (exitCode, broker) = await BrokerProcess.RunToExitAsync(["dev", "--config", file, "--urls", "http://127.0.0.1:0"]);

        Assert.That(exitCode, Is.EqualTo(2), broker.Describe());
        Assert.That(broker.Error.Lines, Has.Some.Contains("Broker:Rules:0 (deploy-db):Issuer").And.Contains("development issuer"));
    }

    [Test]
    public async Task BrokerProcess_DevMode_ConfigRuleNamingItsIssuer_Starts()
    {
        var file = JsonFile(ValidConfiguration());
        await using var broker = BrokerProcess.Start(["dev", "--config", file, "--urls", "http://127.0.0.1:0", "--target", "echo=127.0.0.1:9"]);

        var listening = await broker.WaitForOutputAsync(line => line.StartsWith("listening ", StringComparison.Ordinal));

        Assert.That(listening, Does.StartWith("listening http://127.0.0.1:"));
        await broker.TerminateAsync();
    }

    [Test]
    public async Task BrokerProcess_RawLanePortInUse_ExitsCannotListen_NamingTheKey()
    {
        using var occupant = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        occupant.Start();
        var port = ((System.Net.IPEndPoint)occupant.LocalEndpoint).Port;
        var file = JsonFile(ValidConfiguration());

        var (exitCode, broker) = await BrokerProcess.RunToExitAsync(["--config", file, "--urls", "http://127.0.0.1:0", $"--Broker:Lanes:Raw:Url=http://127.0.0.1:{port}"]);

        Assert.That(exitCode, Is.EqualTo(3), broker.Describe());
        Assert.That(broker.Error.Lines, Has.Some.Contains("Broker:Lanes:Raw:Url").And.Contains($"127.0.0.1:{port}"));
    }

    [TestCase("--urls", "--urls or Kestrel:Endpoints")]
    [TestCase("Broker__Admin__Url", "Broker:Admin:Url")]
    [TestCase("Broker__Lanes__Raw__Url", "Broker:Lanes:Raw:Url")]
    [TestCase("Broker__Metrics__Url", "Broker:Metrics:Url")]
    public async Task BrokerProcess_DevMode_PortInUse_ExitsCannotListen_InOneLineNamingTheAddressAndKey(string setting, string key)
    {
        // A port this test holds, not a default one: the broker is told to listen there.
        using var occupant = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        occupant.Start();
        var taken = $"http://127.0.0.1:{((System.Net.IPEndPoint)occupant.LocalEndpoint).Port}";
        var environment = new Dictionary<string, string?> { ["Broker__Lanes__Raw__Url"] = "http://127.0.0.1:0" };
        var brokerUrl = "http://127.0.0.1:0";
        if (setting == "--urls")
        {
            brokerUrl = taken;
        }
        else
        {
            environment[setting] = taken;
        }

        var (exitCode, broker) = await BrokerProcess.RunToExitAsync(["dev", "--urls", brokerUrl, "--target", "echo=127.0.0.1:9"], environment);

        Assert.That(exitCode, Is.EqualTo(3), broker.Describe());
        Assert.That(broker.Error.Lines, Has.Count.EqualTo(1).And.Some.Contains(key).And.Some.Contains(taken["http://".Length..]), broker.Describe());
        Assert.That(broker.Output.Lines.Concat(broker.Error.Lines), Has.None.Contains("Exception").And.None.Match(@"^\s+at "), "no stack trace: " + broker.Describe());
    }

    [Test]
    public async Task BrokerProcess_BadConfigFile_ExitsWithConfigurationError_NamingTheKey()
    {
        var configuration = ValidConfiguration();
        configuration["Broker:Targets:db"] = "db.internal";
        var file = JsonFile(configuration);

        var (exitCode, broker) = await BrokerProcess.RunToExitAsync(["--config", file, "--urls", "http://127.0.0.1:0"]);

        Assert.That(exitCode, Is.EqualTo(2), broker.Describe());
        Assert.That(broker.Error.Lines, Has.Some.Contains("Broker:Targets:db"));
        Assert.That(broker.Output.Lines, Has.None.StartsWith("listening"));
    }

    [Test]
    public async Task BrokerProcess_MissingConfigFile_ExitsWithConfigurationError_NamingTheFile()
    {
        var missing = Path.Combine(Path.GetTempPath(), "ghaport-no-such-config-" + Guid.NewGuid().ToString("N") + ".json");

        var (exitCode, broker) = await BrokerProcess.RunToExitAsync(["--config", missing, "--urls", "http://127.0.0.1:0"]);

        Assert.That(exitCode, Is.EqualTo(2), broker.Describe());
        Assert.That(broker.Error.Lines, Has.Some.Contains("not found").And.Contains(Path.GetFileName(missing)));
    }

    [Test]
    public async Task BrokerProcess_ConfigFileNotJson_ExitsWithConfigurationError()
    {
        var file = TempFile("{ \"Broker\": { \"Targets\": ");

        var (exitCode, broker) = await BrokerProcess.RunToExitAsync(["--config", file, "--urls", "http://127.0.0.1:0"]);

        Assert.That(exitCode, Is.EqualTo(2), broker.Describe());
        Assert.That(broker.Error.Lines, Has.Some.Contains("JSON"));
    }

    [Test]
    public async Task BrokerProcess_BadSettingOnCommandLine_ExitsWithConfigurationError_NamingTheKey()
    {
        var configuration = ValidConfiguration();
        configuration.Remove("Broker:Leases:DefaultTtl");
        var file = JsonFile(configuration);

        var (exitCode, broker) = await BrokerProcess.RunToExitAsync(["--config", file, "--urls", "http://127.0.0.1:0", "--Broker:Leases:DefaultTtl=soon"]);

        Assert.That(exitCode, Is.EqualTo(2), broker.Describe());
        Assert.That(broker.Error.Lines, Has.Some.Contains("Broker:Leases:DefaultTtl"));
    }

    [Test]
    public async Task BrokerProcess_CommandLineSetting_OverridesTheConfigFile()
    {
        // Standard .NET configuration order: the command line beats the file. A bad value given on the command line
        // for a key the file also sets must therefore stop the broker, not be silently outvoted by the file.
        var file = JsonFile(ValidConfiguration());

        var (exitCode, broker) = await BrokerProcess.RunToExitAsync(["--config", file, "--urls", "http://127.0.0.1:0", "--Broker:Leases:DefaultTtl=soon"]);

        Assert.That(exitCode, Is.EqualTo(2), "the broker started with the file's value; " + broker.Describe());
        Assert.That(broker.Error.Lines, Has.Some.Contains("Broker:Leases:DefaultTtl"));
    }

    [Test]
    public async Task BrokerProcess_EnvironmentSetting_OverridesTheConfigFile()
    {
        var file = JsonFile(ValidConfiguration());

        var (exitCode, broker) = await BrokerProcess.RunToExitAsync(
            ["--config", file, "--urls", "http://127.0.0.1:0"], new Dictionary<string, string?> { ["Broker__Leases__DefaultTtl"] = "soon" });

        Assert.That(exitCode, Is.EqualTo(2), "the broker started with the file's value; " + broker.Describe());
        Assert.That(broker.Error.Lines, Has.Some.Contains("Broker:Leases:DefaultTtl"));
    }

    [Test]
    public async Task BrokerProcess_UnknownCommand_ExitsWithConfigurationError()
    {
        var (exitCode, broker) = await BrokerProcess.RunToExitAsync(["serve"]);

        Assert.That(exitCode, Is.EqualTo(2), broker.Describe());
        Assert.That(broker.Error.Lines, Has.Some.Contains("'serve'"));
    }

    [Test]
    public async Task BrokerProcess_ValidConfigFile_Listens_ThenExitsZeroOnSigterm()
    {
        var file = JsonFile(ValidConfiguration());
        await using var broker = BrokerProcess.Start(["--config", file, "--urls", "http://127.0.0.1:0"]);

        var listening = await broker.WaitForOutputAsync(line => line.StartsWith("listening ", StringComparison.Ordinal));
        var exitCode = await broker.TerminateAsync();

        Assert.That(listening, Does.Match(@"^listening http://127\.0\.0\.1:[1-9][0-9]*/?$"));
        Assert.That(exitCode, Is.Zero, broker.Describe());
    }

    [Test]
    public void UnknownKey_Rule_IsErrorSuggestingRules()
    {
        // "Rule" for "Rules" used to read as a valid policy of no rules: every session denied, and nothing said why.
        var configuration = Renamed(ValidConfiguration(), "Broker:Rules:", "Broker:Rule:");

        var error = Assert.Throws<BrokerConfigurationException>(() => Build(JsonFile(configuration)));

        Assert.That(error!.Errors, Is.EqualTo(new List<string> { "Broker:Rule: not a known key; did you mean Broker:Rules?" }), "one error for the whole misnamed section, not one per key inside it");
    }

    [Test]
    public void Transport_ConectTimeout_SuggestsConnectTimeout()
    {
        var configuration = ValidConfiguration();
        configuration["Broker:Transport:ConectTimeout"] = "00:00:05";

        var error = Assert.Throws<BrokerConfigurationException>(() => Build(JsonFile(configuration)));

        Assert.That(error!.Errors, Is.EqualTo(new List<string> { "Broker:Transport:ConectTimeout: not a known key; did you mean Broker:Transport:ConnectTimeout?" }));
    }

    [TestCase("Broker:Lease:DefaultTtl", "00:10:00", "Broker:Lease: not a known key; did you mean Broker:Leases?")]
    [TestCase("Broker:Issuers:0:Audience:0", "ghaport", "Broker:Issuers:0:Audience: not a known key; did you mean Broker:Issuers:0:Audiences?")]
    [TestCase("Broker:Audit:Pth", "audit.jsonl", "Broker:Audit:Pth: not a known key; did you mean Broker:Audit:Path?")]
    [TestCase("Broker:Lanes:Raw:Urls", "http://127.0.0.1:0", "Broker:Lanes:Raw:Urls: not a known key; did you mean Broker:Lanes:Raw:Url?")]
    [TestCase("Broker:Tls:CertPath", "broker.crt", "Broker:Tls:CertPath: not a known key (Broker:Tls takes CertificatePath, KeyPath, PfxPassword, PfxPath).")]
    public void UnknownKey_InAnySection_IsError_NamingIt(string key, string value, string expected)
    {
        var configuration = ValidConfiguration();
        configuration[key] = value;

        var error = Assert.Throws<BrokerConfigurationException>(() => Build(JsonFile(configuration)));

        Assert.That(error!.Errors, Is.EqualTo(new List<string> { expected }));
    }

    [Test]
    public void UnknownKey_WithNothingNear_ListsTheKnownKeysBesideIt()
    {
        var configuration = ValidConfiguration();
        configuration["Broker:Colour"] = "blue";

        var error = Assert.Throws<BrokerConfigurationException>(() => Build(JsonFile(configuration)));

        Assert.That(error!.Errors, Has.Count.EqualTo(1));
        Assert.That(error.Errors[0], Does.StartWith("Broker:Colour: not a known key (Broker takes Admin, Audit, Issuers, ").And.Contains(" Rules, Store, Targets, Tls, Transport"));
    }

    [Test]
    public void UnknownKey_IsNamedAlongsideTheOtherErrors()
    {
        var configuration = Renamed(ValidConfiguration(), "Broker:Issuers:", "Broker:Issuer:");

        var error = Assert.Throws<BrokerConfigurationException>(() => Build(JsonFile(configuration)));

        Assert.That(error!.Errors, Has.Some.StartsWith("Broker:Issuers: at least one issuer is required"));
        Assert.That(error.Errors, Has.Some.EqualTo("Broker:Issuer: not a known key; did you mean Broker:Issuers?"));
    }

    [Test]
    public void EntryReportedAsWrong_IsNotAlsoCalledUnknown()
    {
        var configuration = ValidConfiguration();
        configuration["Broker:Issuers:1:Issuer"] = "issuer.example";
        configuration["Broker:Issuers:1:Audiences:0"] = "ghaport";
        configuration["Broker:Targets:Prod_DB"] = "db.internal:5432";
        configuration["Broker:Rules:0:NotClaim:ref"] = "refs/heads/wip/**";
        configuration["Broker:Admin:TokenFile"] = " ";
        configuration["Broker:Leases:SigningKeyPath"] = "lease-signing-key.pem";

        var error = Assert.Throws<BrokerConfigurationException>(() => Build(JsonFile(configuration)));

        Assert.That(error!.Errors, Has.Some.StartsWith("Broker:Issuers:1:Issuer:"));
        Assert.That(error.Errors, Has.Some.StartsWith("Broker:Targets:Prod_DB:"));
        Assert.That(error.Errors, Has.Some.StartsWith("Broker:Rules:0 (deploy-db):NotClaim: unknown key; did you mean NotClaims?"));
        Assert.That(error.Errors, Has.Some.StartsWith("Broker:Admin:TokenFile:"));
        Assert.That(error.Errors, Has.None.Contains("not a known key"), "each is named once, by what is wrong with it");
    }

    [Test]
    public void KnownKeysOfEverySection_AnyCase_AndOtherSections_AreAccepted()
    {
        var configuration = ValidConfiguration();
        configuration["broker:leases:signingkeypath"] = Path.Combine(Path.GetTempPath(), "ghaport-unused-" + Guid.NewGuid().ToString("N") + ".pem");
        configuration["Broker:Admin:Enabled"] = "false";
        configuration["Broker:Audit:MaxFileBytes"] = "1048576";
        configuration["Broker:Metrics:Enabled"] = "false";
        configuration["Broker:Lanes:Raw:Enabled"] = "false";
        configuration["Broker:Transport:SessionTimeout"] = "00:00:20";
        configuration["Broker:Targets:cache:Address"] = "cache.internal:6379";
        configuration["Broker:Targets:cache:AllowPrivateAddresses"] = "true";
        configuration["Broker:Rules:0:NotClaims:actor"] = "dependabot[bot]";
        configuration["Broker:Rules:1:Name"] = "empty-lists";
        configuration["Broker:Rules:1:Targets:0"] = "cache";
        configuration["Broker:Rules:1:Claims:repository_id"] = "1";
        configuration["Logging:LogLevel:Defualt"] = "Warning";
        configuration["AllowedHosts"] = "*";

        using var app = Build(JsonFile(configuration));

        Assert.That(app.Services.GetRequiredService<BrokerSettings>().Rules, Has.Count.EqualTo(2));
    }

    [Test]
    public async Task UnknownKey_FromEnvironmentAndCommandLine_IsError()
    {
        var file = JsonFile(ValidConfiguration());

        var (exitCode, broker) = await BrokerProcess.RunToExitAsync(
            ["--config", file, "--urls", "http://127.0.0.1:0", "--Broker:Lease:DefaultTtl=00:10:00", "--broker:leases:maxttl=03:00:00"],
            new Dictionary<string, string?> { ["Broker__Transport__ConectTimeout"] = "00:00:05", ["Logging__LogLevel__Default"] = "Information" });

        Assert.That(exitCode, Is.EqualTo(2), broker.Describe());
        Assert.That(broker.Error.Lines, Has.Some.Contains("Broker:Lease: not a known key; did you mean Broker:Leases?"), "from the command line");
        Assert.That(broker.Error.Lines, Has.Some.Contains("Broker:Transport:ConectTimeout: not a known key; did you mean Broker:Transport:ConnectTimeout?"), "from the environment");
        Assert.That(broker.Error.Lines, Has.None.Contains("maxttl").IgnoreCase, "keys are matched case-insensitively");
        Assert.That(broker.Error.Lines, Has.None.Contains("Logging"), "other sections are not the broker's");
        Assert.That(broker.Error.Lines, Has.None.Contains("   at "), "no stack trace");
    }

    [Test]
    public async Task BadJson_NamesLineAndColumn()
    {
        var text = "{\n  \"Broker\": {\n    \"Targets\": { \"db\": \"db.internal:5432\",, }\n  }\n}\n";
        var column = text.Split('\n')[2].IndexOf(",,", StringComparison.Ordinal) + 2;
        var file = TempFile(text);

        var (exitCode, broker) = await BrokerProcess.RunToExitAsync(["--config", file, "--urls", "http://127.0.0.1:0"]);

        Assert.That(exitCode, Is.EqualTo(2), broker.Describe());
        Assert.That(broker.Error.Lines, Has.Some.Contains(file).And.Contains("not valid JSON").And.Contains($"line 3, column {column}:"));
        Assert.That(broker.Error.Lines, Has.None.Contains("   at "), "no stack trace");
    }

    [Test]
    public void ExampleConfig_ServesHttps_BindsIds_AndRaisesNoPolicyWarning()
    {
        var example = Path.Combine(TestContext.CurrentContext.TestDirectory, "deploy", "broker.example.json");
        var folder = Directory.CreateTempSubdirectory("ghaport-example-");
        try
        {
            // The example's certificate paths are the deployment's; a test certificate stands in for them.
            using var ca = TestCertificates.CreateCa("example CA");
            using var certificate = TestCertificates.IssueServerCertificate(ca);
            var (pem, key) = TestCertificates.ToPem(certificate);
            var certificatePath = Path.Combine(folder.FullName, "broker.crt");
            var keyPath = Path.Combine(folder.FullName, "broker.key");
            File.WriteAllText(certificatePath, pem);
            File.WriteAllText(keyPath, key);

            using var app = BrokerHost.Build([], [example], new Dictionary<string, string?>
            {
                ["Broker:Tls:CertificatePath"] = certificatePath,
                ["Broker:Tls:KeyPath"] = keyPath,
                ["Broker:Audit:Path"] = BrokerUnderTest.TempAuditPath(),
            });

            var settings = app.Services.GetRequiredService<BrokerSettings>();
            Assert.That(settings.Rules, Is.Not.Empty);
            Assert.That(PolicyRisks.Of(settings), Is.Empty);
            Assert.That(settings.Rules.SelectMany(r => r.Claims.Keys), Has.None.EqualTo("repository").And.None.EqualTo("repository_owner"), "names pass to whoever holds them next; the policy guide binds ids");
            var endpoints = app.Configuration.GetSection("Kestrel:Endpoints").GetChildren().Select(e => e["Url"]).ToList();
            Assert.That(endpoints, Is.Not.Empty.And.All.StartsWith("https://"));
            Assert.That(app.Services.GetRequiredService<LaneSettings>().RawUsesTls, Is.True);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    private static BrokerSettings Read(Dictionary<string, string?> configuration) =>
        BrokerSettingsReader.Read(new ConfigurationBuilder().AddInMemoryCollection(configuration).Build());

    private static Dictionary<string, string?> ValidConfiguration() => new()
    {
        ["Broker:Issuers:0:Issuer"] = "https://token.actions.githubusercontent.com",
        ["Broker:Issuers:0:Audiences:0"] = "ghaport",
        ["Broker:Issuers:0:Audiences:1"] = "ghaport-staging",
        ["Broker:Issuers:1:Issuer"] = "http://127.0.0.1:5555",
        ["Broker:Targets:db"] = "db.internal:5432",
        ["Broker:Targets:api"] = "[fd00::1]:8443",
        ["Broker:Rules:0:Name"] = "deploy-db",
        ["Broker:Rules:0:Issuer"] = "https://token.actions.githubusercontent.com",
        ["Broker:Rules:0:Targets:0"] = "db",
        ["Broker:Rules:0:Targets:1"] = "api",
        ["Broker:Rules:0:Claims:repository"] = "acme/app",
        ["Broker:Rules:0:Claims:ref:0"] = "refs/heads/main",
        ["Broker:Rules:0:Claims:ref:1"] = "refs/tags/v*",
        ["Broker:Rules:0:MaxTtl"] = "00:30:00",
        ["Broker:Rules:0:MaxConnections"] = "8",
        ["Broker:Leases:DefaultTtl"] = "00:10:00",
        ["Broker:Leases:MaxTtl"] = "02:00:00",
        ["Broker:Transport:ConnectTimeout"] = "00:00:03",
        ["Broker:Transport:StreamWindowSize"] = "1048576",
    };

    /// <summary>The broker's own host, built from <paramref name="file"/> as start-up builds it, never started.</summary>
    private static WebApplication Build(string file) =>
        BrokerHost.Build(["--urls", "http://127.0.0.1:0"], [file], new Dictionary<string, string?>
        {
            ["Broker:Admin:Url"] = "http://127.0.0.1:0",
            ["Broker:Audit:Path"] = BrokerUnderTest.TempAuditPath(),
            ["Broker:Metrics:Url"] = "http://127.0.0.1:0",
        });

    /// <summary>The configuration with every key under <paramref name="from"/> moved under <paramref name="to"/>.</summary>
    private static Dictionary<string, string?> Renamed(Dictionary<string, string?> configuration, string from, string to) =>
        configuration.ToDictionary(e => e.Key.StartsWith(from, StringComparison.Ordinal) ? to + e.Key[from.Length..] : e.Key, e => e.Value);

    private static void RemoveUnder(Dictionary<string, string?> configuration, string prefix)
    {
        foreach (var key in configuration.Keys.Where(k => k.StartsWith(prefix + ":", StringComparison.Ordinal)).ToList())
        {
            configuration.Remove(key);
        }
    }

    /// <summary>Writes flat configuration keys as the nested JSON a deployment's file would hold.</summary>
    private string JsonFile(Dictionary<string, string?> configuration) => TempFile(ConfigFileBroker.ToJson(configuration));

    private string TempFile(string text)
    {
        var path = Path.Combine(Path.GetTempPath(), "ghaport-broker-test-" + Guid.NewGuid().ToString("N") + ".json");
        File.WriteAllText(path, text);
        _files.Add(path);
        return path;
    }
}
