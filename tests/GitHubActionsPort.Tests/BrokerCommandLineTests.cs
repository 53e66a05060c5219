using System.Reflection;
using GitHubActionsPort.Broker.Hosting;

namespace GitHubActionsPort.Tests;

/// <summary>
/// <c>ghaport-broker</c>'s command line: help per command, <c>--version</c>, a mistyped flag refused by name with the
/// nearest one suggested, configuration switches still reaching .NET configuration, and dev's four ports moving
/// together.
/// </summary>
public sealed class BrokerCommandLineTests
{
    private const string ListeningPrefix = "listening ";

    [TestCase(new[] { "--help" }, "--config", "--no-verify")]
    [TestCase(new[] { "dev", "--help" }, "--port-base", "--no-verify")]
    [TestCase(new[] { "policy", "explain", "--help" }, "--no-verify", "--port-base")]
    [TestCase(new[] { "sessions", "revoke", "-h" }, "--claim", "--json")]
    [TestCase(new[] { "audit", "verify", "--help" }, "FILE", "--config")]
    [TestCase(new[] { "store", "migrate", "--help" }, "--config", "--no-verify")]
    [TestCase(new[] { "health", "--help" }, "--url", "--no-verify")]
    [TestCase(new[] { "help", "dev" }, "--target", "--no-verify")]
    public async Task Help_IsPerCommand_Exit0(string[] args, string shown, string notShown)
    {
        var (exitCode, broker) = await BrokerProcess.RunToExitAsync(args);

        Assert.That(exitCode, Is.Zero, broker.Describe());
        Assert.That(broker.Output.Lines, Has.Some.Contains(shown));
        Assert.That(broker.Output.Lines, Has.None.Contains(notShown), "another command's flag");
    }

    [Test]
    public async Task Version_PrintsVersion()
    {
        var version = typeof(BrokerHost).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion;

        var (exitCode, broker) = await BrokerProcess.RunToExitAsync(["--version"]);

        Assert.That(exitCode, Is.Zero, broker.Describe());
        Assert.That(broker.Output.Lines, Has.Some.EqualTo($"ghaport-broker {version}"));
    }

    [TestCase(new[] { "--bogus", "x", "--urls", "http://127.0.0.1:0" }, "'--bogus'", null)]
    [TestCase(new[] { "--urlz", "http://127.0.0.1:0" }, "'--urlz'", "did you mean --urls")]
    [TestCase(new[] { "dev", "--targte", "echo=127.0.0.1:9" }, "'--targte'", "did you mean --target")]
    [TestCase(new[] { "sessions", "lst" }, "'lst'", "did you mean list")]
    [TestCase(new[] { "run", "--target", "echo=127.0.0.1:9" }, "'--target'", "--target belongs to 'ghaport-broker dev'")]
    [TestCase(new[] { "policy", "explain", "--token", "t.jwt", "--no-verfy" }, "'--no-verfy'", "did you mean --no-verify")]
    public async Task Broker_UnknownFlag_IsErrorWithSuggestion(string[] args, string named, string? suggestion)
    {
        var (exitCode, broker) = await BrokerProcess.RunToExitAsync(args);

        Assert.That(exitCode, Is.EqualTo(BrokerCommand.ExitConfiguration), broker.Describe());
        Assert.That(broker.Error.Lines, Has.Some.Contains(named));
        if (suggestion is not null)
        {
            Assert.That(broker.Error.Lines, Has.Some.Contains(suggestion));
        }
    }

    [Test]
    public async Task Broker_ConfgTypo_SuggestsConfig()
    {
        // Before, '--confg FILE' went to .NET configuration as the key 'confg', and the broker started without its file.
        var (exitCode, broker) = await BrokerProcess.RunToExitAsync(["run", "--confg", "broker.json", "--urls", "http://127.0.0.1:0"]);

        Assert.That(exitCode, Is.EqualTo(BrokerCommand.ExitConfiguration), broker.Describe());
        Assert.That(broker.Error.Lines, Has.Some.Contains("'--confg'").And.Contains("did you mean --config"));
    }

    [Test]
    public async Task AuditVerify_WithoutFile_SaysFileIsRequired()
    {
        var (exitCode, broker) = await BrokerProcess.RunToExitAsync(["audit", "verify"]);

        Assert.That(exitCode, Is.EqualTo(BrokerCommand.ExitConfiguration), broker.Describe());
        Assert.That(broker.Error.Lines, Has.Some.Contains("audit verify").And.Contains("needs FILE"));
    }

    [Test]
    public void ConfigurationSwitches_StillReachConfiguration_OwnFlagsDoNot()
    {
        var parsed = BrokerArguments.Parse(
            ["run", "--config", "a.json", "--Broker:Leases:DefaultTtl", "30m", "--Kestrel:Limits:MaxRequestBodySize=1024", "--config:b.json", "--urls", "http://127.0.0.1:0"]);

        Assert.That(parsed.Mode, Is.EqualTo(BrokerMode.Run));
        Assert.That(parsed.ConfigFiles, Is.EqualTo((string[])["a.json", "b.json"]));
        Assert.That(parsed.HostArgs, Is.EqualTo((string[])["--Broker:Leases:DefaultTtl", "30m", "--Kestrel:Limits:MaxRequestBodySize=1024", "--urls=http://127.0.0.1:0"]));
    }

    [Test]
    public void NoCommand_Runs_WithTheSameFlags()
    {
        var parsed = BrokerArguments.Parse(["--config", "a.json", "--Broker:Targets:db=db.internal:5432", "--urls", "http://127.0.0.1:0"]);

        Assert.That(parsed.Mode, Is.EqualTo(BrokerMode.Run));
        Assert.That(parsed.ConfigFiles, Is.EqualTo((string[])["a.json"]));
        Assert.That(parsed.HostArgs, Is.EqualTo((string[])["--Broker:Targets:db=db.internal:5432", "--urls=http://127.0.0.1:0"]));
    }

    [Test]
    public void ConfigurationSwitchWithoutValue_IsAnError_NamingIt()
    {
        var error = Assert.Throws<ArgumentException>(() => BrokerArguments.Parse(["--Broker:Leases:DefaultTtl", "--config", "a.json"]));

        Assert.That(error!.Message, Does.Contain("--Broker:Leases:DefaultTtl needs a value"));
    }

    [Test]
    public void DevPortBase_PlacesTheFourPortsSideBySide()
    {
        var parsed = BrokerArguments.Parse(["dev", "--port-base", "9000"]);

        Assert.That(parsed.HostArgs, Is.EqualTo((string[])["--urls=http://127.0.0.1:9000"]));
        Assert.That(parsed.Defaults, Is.EquivalentTo(new Dictionary<string, string?>
        {
            ["Broker:Admin:Url"] = "http://127.0.0.1:9001",
            ["Broker:Lanes:Raw:Url"] = "http://127.0.0.1:9002",
            ["Broker:Metrics:Url"] = "http://127.0.0.1:9003",
            // A dev broker keeps nothing: its state must not land in a real broker's store on this host.
            ["Broker:Store:Kind"] = "memory",
        }));
    }

    [TestCase("http://127.0.0.1:9100", "http://127.0.0.1:9101", "http://127.0.0.1:9102", "http://127.0.0.1:9103")]
    [TestCase("https://0.0.0.0:9100;http://127.0.0.1:9200", "http://127.0.0.1:9101", "https://0.0.0.0:9102", "http://127.0.0.1:9103")]
    [TestCase("http://[::1]:9100", "http://127.0.0.1:9101", "http://[::1]:9102", "http://127.0.0.1:9103")]
    [TestCase("http://127.0.0.1:0", "http://127.0.0.1:0", "http://127.0.0.1:0", "http://127.0.0.1:0")]
    public void DevUrls_MovesTheSidePortsWithIt(string urls, string admin, string raw, string metrics)
    {
        var parsed = BrokerArguments.Parse(["dev", "--urls", urls]);

        Assert.That(parsed.Defaults["Broker:Admin:Url"], Is.EqualTo(admin), "the admin endpoint stays on loopback");
        Assert.That(parsed.Defaults["Broker:Lanes:Raw:Url"], Is.EqualTo(raw), "the raw lane follows the job-facing scheme and host");
        Assert.That(parsed.Defaults["Broker:Metrics:Url"], Is.EqualTo(metrics));
    }

    [Test]
    public void RunUrls_DerivesNothing()
    {
        Assert.That(BrokerArguments.Parse(["run", "--urls", "http://127.0.0.1:9100"]).Defaults, Is.Empty);
    }

    [TestCase(new[] { "dev", "--port-base", "9000", "--urls", "http://127.0.0.1:9000" }, "--port-base and --urls")]
    [TestCase(new[] { "dev", "--port-base", "65533" }, "--port-base must be from 0 to 65532")]
    [TestCase(new[] { "dev", "--urls", "http://127.0.0.1:65534" }, "no room")]
    [TestCase(new[] { "run", "--port-base", "9000" }, "'--port-base'")]
    [TestCase(new[] { "--config", "a.json", "dev" }, "--config and --urls go after the command")]
    public void DevPortBase_Misuse_IsAnError(string[] args, string expected)
    {
        var error = Assert.Throws<ArgumentException>(() => BrokerArguments.Parse(args));

        Assert.That(error!.Message, Does.Contain(expected));
    }

    [Test]
    public async Task TwoDevBrokers_SideBySide_EachOnItsOwnFourPorts()
    {
        // Neither names a side port: each derives all four from its base, 0 here (never a fixed port in a test).
        var environment = new Dictionary<string, string?> { ["Broker__Admin__Url"] = null, ["Broker__Metrics__Url"] = null };
        await using var first = BrokerProcess.Start(["dev", "--port-base", "0", "--target", "echo=127.0.0.1:9"], environment);
        await using var second = BrokerProcess.Start(["dev", "--urls", "http://127.0.0.1:0", "--target", "echo=127.0.0.1:9"], environment);

        var ports = new List<int>();
        foreach (var broker in new[] { first, second })
        {
            ports.Add(new Uri((await broker.WaitForOutputAsync(l => l.StartsWith(ListeningPrefix, StringComparison.Ordinal)))[ListeningPrefix.Length..]).Port);
            ports.Add(new Uri((await broker.WaitForOutputAsync(l => l.StartsWith("raw-lane ", StringComparison.Ordinal)))["raw-lane ".Length..]).Port);
            ports.Add(new Uri((await broker.WaitForOutputAsync(l => l.StartsWith("admin ", StringComparison.Ordinal)))["admin ".Length..]).Port);
            var metrics = await broker.WaitForOutputAsync(l => l.Contains("Metrics and health on ", StringComparison.Ordinal));
            ports.Add(new Uri(metrics[(metrics.IndexOf("http://", StringComparison.Ordinal))..].Split(' ')[0]).Port);
        }

        Assert.That(ports, Is.Unique, string.Join(", ", ports));
        Assert.That(ports, Has.None.AnyOf(8470, 8471, 8472, 9471), "no default port was taken");
        Assert.That(await first.TerminateAsync(), Is.Zero, first.Describe());
        Assert.That(await second.TerminateAsync(), Is.Zero, second.Describe());
    }
}
