using GitHubActionsPort.Broker.DevIssuer;

namespace GitHubActionsPort.Tests;

/// <summary>
/// The <c>--config</c> file is the policy: a valid change takes effect for new sessions and tunnels at once and
/// ends the live leases it no longer permits; an invalid one changes nothing but an error in the log.
/// </summary>
public sealed class PolicyReloadTests
{
    private DevIssuer _issuer = null!;
    private TcpTestServer _echo = null!;
    private TcpTestServer _otherEcho = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _issuer = await DevIssuer.StartAsync().DefaultTimeout();
        _echo = TcpTestServer.Echo();
        _otherEcho = TcpTestServer.Echo();
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        await _otherEcho.DisposeAsync();
        await _echo.DisposeAsync();
        await _issuer.DisposeAsync();
    }

    [Test]
    public async Task RuleRemoved_EndsTheLiveLease_ResetsItsTunnel_AndDeniesNewSessions()
    {
        await using var broker = await ConfigFileBroker.StartAsync(Configuration());
        await using var agent = await StartAgentAsync(broker);
        using var client = await SocketIo.ConnectAsync(agent["echo"]);
        await AssertEchoesAsync(client);

        var withoutAppRule = Configuration();
        RemoveRule(withoutAppRule, 0);
        var ended = await broker.RewriteAsync(withoutAppRule, e => e.EventId.Name == "LeaseEndedByPolicy");

        Assert.That(broker.Logs.Entries.Where(e => e.EventId.Name == "PolicyReloaded"), Is.Not.Empty);
        Assert.That(ended.Message, Does.Contain("repository=acme/app").And.Contain("echo"));
        var (_, wasReset) = await client.ReadUntilClosedAsync().DefaultTimeout();
        Assert.That(wasReset, Is.True, "a tunnel the policy no longer permits is reset, not closed as if it had finished");

        var denied = AgentUnderTest.Run(broker.Address, ["0:echo"], AgentUnderTest.GitHubEnvironment(_issuer), echo: TestContext.Progress);
        await using (denied)
        {
            Assert.That(await denied.Exit.DefaultTimeout(), Is.EqualTo(6), "a new session is judged by the new policy");
        }

        Assert.That(broker.Logs.Errors, Is.Empty);
    }

    [Test]
    public async Task RuleRemoved_AgentHearsWhy_AndExitsWithLeaseEnded_WithoutAskingForANewSession()
    {
        await using var broker = await ConfigFileBroker.StartAsync(Configuration());
        await using var agent = await StartAgentAsync(broker);

        var withoutAppRule = Configuration();
        RemoveRule(withoutAppRule, 0);
        await broker.RewriteAsync(withoutAppRule, e => e.EventId.Name == "LeaseEndedByPolicy");

        // No tunnel open, no connection made: the agent is told all the same, and stops.
        Assert.That(await agent.Exit.DefaultTimeout(), Is.EqualTo(Agent.Cli.ExitCodes.LeaseEnded));
        Assert.That(agent.Error.Lines, Has.Some.Contains("lease ended (policy)").And.Contains("the policy no longer permits it"));
        Assert.That(agent.Logs.Entries.Where(e => e.EventId.Name is "LeaseLost" or "SessionReopenRefused" or "SessionReopenRetry"), Is.Empty);
        Assert.That(broker.Logs.Entries.Count(e => e.EventId.Name is "SessionGranted" or "SessionDenied"), Is.EqualTo(1), "no second session was asked for");
        Assert.That(broker.Logs.Errors, Is.Empty);
    }

    [Test]
    public async Task RuleKept_LiveLeaseSurvivesTheReload_AndNewTunnelsGoToTheTargetsNewAddress()
    {
        await using var broker = await ConfigFileBroker.StartAsync(Configuration());
        await using var agent = await StartAgentAsync(broker);
        using var first = await SocketIo.ConnectAsync(agent["echo"]);
        await AssertEchoesAsync(first);
        var otherBefore = _otherEcho.AcceptedCount;

        var moved = Configuration();
        moved["Broker:Targets:echo"] = _otherEcho.Address;
        await broker.RewriteAsync(moved, e => e.EventId.Name == "PolicyReloaded");

        await AssertEchoesAsync(first);
        using var second = await SocketIo.ConnectAsync(agent["echo"]);
        await AssertEchoesAsync(second);
        Assert.That(_otherEcho.AcceptedCount, Is.EqualTo(otherBefore + 1), "the new tunnel dialled the target's new address");
        Assert.That(broker.Logs.Entries.Where(e => e.EventId.Name == "LeaseEndedByPolicy"), Is.Empty);
        Assert.That(broker.Logs.Errors, Is.Empty);
    }

    [Test]
    public async Task InvalidRewrite_KeepsThePolicyInForce_AndLogsAnErrorNamingTheKey()
    {
        await using var broker = await ConfigFileBroker.StartAsync(Configuration());
        await using var agent = await StartAgentAsync(broker);
        using var client = await SocketIo.ConnectAsync(agent["echo"]);

        var invalid = Configuration();
        invalid["Broker:Rules:0:Claims:repository"] = "acme/***";
        invalid["Broker:Rules:1:Targets:0"] = "nosuch";
        var rejected = await broker.RewriteAsync(invalid, e => e.Level >= LogLevel.Error);

        Assert.That(rejected.EventId.Name, Is.EqualTo("PolicyReloadRejected"));
        Assert.That(rejected.Message, Does.Contain("Broker:Rules:0 (app):Claims:repository").And.Contain("'nosuch'").And.Contain("policy in force stays"));
        await AssertEchoesAsync(client);
        await using var second = await StartAgentAsync(broker);
        using var secondClient = await SocketIo.ConnectAsync(second["echo"]);
        await AssertEchoesAsync(secondClient);
        Assert.That(broker.Logs.Entries.Where(e => e.EventId.Name is "PolicyReloaded" or "LeaseEndedByPolicy"), Is.Empty);
    }

    [Test]
    public async Task UnparsableRewrite_KeepsThePolicyInForce_AndLogsAnErrorNamingTheFile_UntilTheFileIsFixed()
    {
        await using var broker = await ConfigFileBroker.StartAsync(Configuration());
        await using var agent = await StartAgentAsync(broker);
        using var client = await SocketIo.ConnectAsync(agent["echo"]);

        var rejected = await broker.RewriteTextAsync("{ \"Broker\": { \"Rules\": ", e => e.Level >= LogLevel.Error);

        Assert.That(rejected.EventId.Name, Is.EqualTo("ConfigFileUnusable"));
        Assert.That(rejected.Message, Does.Contain(broker.FilePath).And.Contain("not valid JSON"));
        await AssertEchoesAsync(client);
        await using (var second = await StartAgentAsync(broker))
        {
            using var secondClient = await SocketIo.ConnectAsync(second["echo"]);
            await AssertEchoesAsync(secondClient);
        }

        var fixedWithoutAppRule = Configuration();
        RemoveRule(fixedWithoutAppRule, 0);
        await broker.RewriteAsync(fixedWithoutAppRule, e => e.EventId.Name == "LeaseEndedByPolicy");
        Assert.That((await client.ReadUntilClosedAsync().DefaultTimeout()).WasReset, Is.True);
    }

    [Test]
    public async Task IssuerChange_IsLeftForARestart_WithAWarning_WhileTheRulesReload()
    {
        await using var broker = await ConfigFileBroker.StartAsync(Configuration());

        var changed = Configuration();
        changed["Broker:Issuers:1:Issuer"] = "https://token.actions.githubusercontent.com";
        changed["Broker:Rules:1:Issuer"] = "https://token.actions.githubusercontent.com";
        var warning = await broker.RewriteAsync(changed, e => e.EventId.Name == "RestartRequired");

        Assert.That(warning.Level, Is.EqualTo(LogLevel.Warning));
        Assert.That(warning.Message, Does.Contain("Broker:Issuers"));
        await broker.Logs.WaitForAsync(e => e.EventId.Name == "PolicyReloaded").DefaultTimeout();
        Assert.That(broker.Logs.Errors, Is.Empty);
    }

    [Test]
    public async Task Reload_WithUnknownKey_KeepsOldPolicy_LogsError()
    {
        await using var broker = await ConfigFileBroker.StartAsync(Configuration());
        await using var agent = await StartAgentAsync(broker);
        using var client = await SocketIo.ConnectAsync(agent["echo"]);
        await AssertEchoesAsync(client);

        // "Rule" for "Rules": once read as a valid policy of no rules, which ended every live lease.
        var misnamed = Configuration().ToDictionary(
            e => e.Key.StartsWith("Broker:Rules:", StringComparison.Ordinal) ? "Broker:Rule:" + e.Key["Broker:Rules:".Length..] : e.Key, e => e.Value);
        var rejected = await broker.RewriteAsync(misnamed, e => e.Level >= LogLevel.Error || e.EventId.Name is "PolicyReloaded" or "LeaseEndedByPolicy");

        Assert.That(rejected.EventId.Name, Is.EqualTo("PolicyReloadRejected"), rejected.Message);
        Assert.That(rejected.Message, Does.Contain("Broker:Rule: not a known key; did you mean Broker:Rules?").And.Contain("policy in force stays"));
        await AssertEchoesAsync(client);
        await using (var second = await StartAgentAsync(broker))
        {
            using var secondClient = await SocketIo.ConnectAsync(second["echo"]);
            await AssertEchoesAsync(secondClient);
        }

        var typo = Configuration();
        typo["Broker:Transport:ConectTimeout"] = "00:00:05";
        var rejectedTypo = await broker.RewriteAsync(typo, e => e.Level >= LogLevel.Error || e.EventId.Name == "PolicyReloaded");
        Assert.That(rejectedTypo.Message, Does.Contain("Broker:Transport:ConectTimeout: not a known key; did you mean Broker:Transport:ConnectTimeout?"));
        await AssertEchoesAsync(client);
        Assert.That(broker.Logs.Entries.Where(e => e.EventId.Name is "PolicyReloaded" or "LeaseEndedByPolicy"), Is.Empty);
    }

    [Test]
    public async Task Reload_LeavingNoRule_LogsWarning()
    {
        await using var broker = await ConfigFileBroker.StartAsync(Configuration());
        await using var agent = await StartAgentAsync(broker);
        using var client = await SocketIo.ConnectAsync(agent["echo"]);
        await AssertEchoesAsync(client);

        var noRules = Configuration().Where(e => !e.Key.StartsWith("Broker:Rules:", StringComparison.Ordinal)).ToDictionary();
        var warning = await broker.RewriteAsync(noRules, e => e.EventId.Name == "PolicyReloadLeavesNoRule");

        Assert.That(warning.Level, Is.EqualTo(LogLevel.Warning));
        Assert.That(warning.Message, Does.Contain("leaves no rule").And.Contain("every live lease (1) will end"));
        Assert.That((await client.ReadUntilClosedAsync().DefaultTimeout()).WasReset, Is.True, "a valid policy is applied as written, warning or not");
        Assert.That(broker.Logs.Errors, Is.Empty);
    }

    [Test]
    public async Task Reload_EndingEveryLiveLease_LogsWarning()
    {
        await using var broker = await ConfigFileBroker.StartAsync(Configuration());
        await using var agent = await StartAgentAsync(broker);
        using var client = await SocketIo.ConnectAsync(agent["echo"]);
        await AssertEchoesAsync(client);

        var withoutAppRule = Configuration();
        RemoveRule(withoutAppRule, 0);
        var warning = await broker.RewriteAsync(withoutAppRule, e => e.EventId.Name == "PolicyReloadEndsEveryLease");

        Assert.That(warning.Level, Is.EqualTo(LogLevel.Warning));
        Assert.That(warning.Message, Does.Contain("none of the 1 live leases"));
        Assert.That(broker.Logs.Entries.Where(e => e.EventId.Name == "PolicyReloadLeavesNoRule"), Is.Empty, "one rule is left");
        Assert.That((await client.ReadUntilClosedAsync().DefaultTimeout()).WasReset, Is.True);
    }

    [Test]
    public async Task Reload_KeepingSomeLeases_DoesNotWarn()
    {
        await using var broker = await ConfigFileBroker.StartAsync(Configuration());
        await using var agent = await StartAgentAsync(broker);
        using var client = await SocketIo.ConnectAsync(agent["echo"]);
        await AssertEchoesAsync(client);

        var withoutOtherRule = Configuration();
        RemoveRule(withoutOtherRule, 1);
        await broker.RewriteAsync(withoutOtherRule, e => e.EventId.Name == "PolicyReloaded");

        await AssertEchoesAsync(client);
        Assert.That(broker.Logs.Entries.Where(e => e.EventId.Name is "PolicyReloadLeavesNoRule" or "PolicyReloadEndsEveryLease"), Is.Empty);
    }

    private Dictionary<string, string?> Configuration() => new()
    {
        ["Broker:Issuers:0:Issuer"] = _issuer.Issuer,
        ["Broker:Issuers:0:Audiences:0"] = "ghaport",
        ["Broker:Targets:echo"] = _echo.Address,
        ["Broker:Rules:0:Name"] = "app",
        ["Broker:Rules:0:Issuer"] = _issuer.Issuer,
        ["Broker:Rules:0:Claims:repository_id"] = "100001",
        ["Broker:Rules:0:Claims:ref"] = "refs/heads/main",
        ["Broker:Rules:0:Targets:0"] = "echo",
        ["Broker:Rules:1:Name"] = "other",
        ["Broker:Rules:1:Issuer"] = _issuer.Issuer,
        ["Broker:Rules:1:Claims:repository_id"] = "100002",
        ["Broker:Rules:1:Targets:0"] = "echo",
    };

    /// <summary>Removes rule <paramref name="index"/>, moving the later ones down, as an operator deleting it from the array would.</summary>
    private static void RemoveRule(Dictionary<string, string?> configuration, int index)
    {
        var rules = configuration.Where(c => c.Key.StartsWith("Broker:Rules:", StringComparison.Ordinal)).ToList();
        foreach (var (key, _) in rules)
        {
            configuration.Remove(key);
        }

        foreach (var (key, value) in rules)
        {
            var parts = key.Split(':');
            var n = int.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture);
            if (n != index)
            {
                parts[2] = (n > index ? n - 1 : n).ToString(System.Globalization.CultureInfo.InvariantCulture);
                configuration[string.Join(':', parts)] = value;
            }
        }
    }

    private Task<AgentUnderTest> StartAgentAsync(ConfigFileBroker broker) =>
        AgentUnderTest.StartAsync(broker.Address, ["0:echo"], AgentUnderTest.GitHubEnvironment(_issuer), echo: TestContext.Progress);

    private static async Task AssertEchoesAsync(System.Net.Sockets.Socket client)
    {
        var payload = SocketIo.RandomBytes(32);
        await client.SendAllAsync(payload);
        Assert.That(await client.ReadExactlyAsync(payload.Length).DefaultTimeout(), Is.EqualTo(payload));
    }
}
