namespace GitHubActionsPort.Tests;

/// <summary>
/// <c>ghaport-broker policy explain</c> as a real process: it judges a pasted id-token rule by rule, prints the
/// lease it would get, never prints the token, and says with its exit code whether the broker would grant it.
/// </summary>
public sealed class PolicyExplainTests
{
    private ForgeIssuer _issuer = null!;
    private DirectoryInfo _folder = null!;
    private string _config = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _issuer = ForgeIssuer.Start();
        _folder = Directory.CreateTempSubdirectory("ghaport-explain-");
        _config = await WriteAsync("broker.json", ConfigFileBroker.ToJson(Configuration(_issuer.Issuer)));
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        await _issuer.DisposeAsync();
        _folder.Delete(recursive: true);
    }

    [Test]
    public async Task VerifiedMatchingToken_PrintsEachCheckAndTheGrant_AndExitsZero()
    {
        var token = Sign(_issuer.Payload());

        var (exit, broker) = await ExplainAsync(token, "--config", _config);

        Assert.That(exit, Is.Zero, broker.Describe());
        var output = broker.Output.Lines;
        Assert.That(output, Has.Some.StartsWith("verified  signature"));
        Assert.That(output, Has.Some.EqualTo("rule deploy (Broker:Rules:0): MATCHES"));
        Assert.That(output, Has.Some.Match(@"^  repository +matched +""acme/app""  against acme/app$"));
        Assert.That(output, Has.Some.Match(@"^  ref +matched +""refs/heads/main""  against refs/heads/main \| refs/tags/v\*$"));
        Assert.That(output, Has.Some.Match(@"^  not actor +not excluded +\(missing, or not a string\)  against mallory$"));
        Assert.That(output, Has.Some.Match(@"^  event +ok +""push"" runs the repository's own code on a trigger that needs write access$"));
        Assert.That(output, Has.Some.EqualTo("rule others (Broker:Rules:1): does not match"));
        Assert.That(output, Has.Some.Match(@"^  repository +NOT matched +""acme/app""  against acme/other$"));
        Assert.That(output, Has.Some.EqualTo("decision for db, api: GRANTED by deploy"));
        Assert.That(output, Has.Some.EqualTo("  ttl              00:15:00 when the agent asks for none (--ttl asks for up to 00:30:00)"));
        Assert.That(output, Has.Some.EqualTo("  max connections  4"));
        AssertTokenNotPrinted(broker, token);
    }

    [Test]
    public async Task VerifiedToken_IsNotSpent_TheSameTokenExplainedTwiceOnOneStoreVerifiesBothTimes()
    {
        // A dry run must leave the job's single use alone: with the state store shared (as every broker on this host
        // shares its sqlite file), a token explained once would otherwise be refused as already used.
        var token = Sign(_issuer.Payload());
        var store = Path.Combine(_folder.FullName, "explain-state.db");

        var (first, firstBroker) = await ExplainAsync(token, "--config", _config, $"--Broker:Store:Path={store}");
        var (second, secondBroker) = await ExplainAsync(token, "--config", _config, $"--Broker:Store:Path={store}");

        Assert.That(first, Is.Zero, firstBroker.Describe());
        Assert.That(second, Is.Zero, secondBroker.Describe());
        Assert.That(secondBroker.Output.Lines, Has.Some.StartsWith("verified  signature"));
    }

    [Test]
    public async Task UnverifiedTokenOfAnotherBranch_ShowsWhichClaimFailed_AndTheReasonTheJobWouldSee_ExitsSix()
    {
        var payload = _issuer.Payload();
        payload["ref"] = "refs/heads/feature";
        var token = Sign(payload);

        var (exit, broker) = await ExplainAsync(token, "--no-verify", "--targets", "db", "--config", _config);

        Assert.That(exit, Is.EqualTo(6), broker.Describe());
        var output = broker.Output.Lines;
        Assert.That(output, Has.Some.StartsWith("verified  NO (--no-verify)"));
        Assert.That(output, Has.Some.EqualTo("rule deploy (Broker:Rules:0): does not match"));
        Assert.That(output, Has.Some.Match(@"^  ref +NOT matched +""refs/heads/feature""  against refs/heads/main \| refs/tags/v\*$"));
        Assert.That(output, Has.Some.EqualTo("decision for db: DENIED"));
        Assert.That(output, Has.Some.StartsWith("  reason the job sees: target 'db' is not permitted for repository=acme/app ref=refs/heads/feature"));
        AssertTokenNotPrinted(broker, token);
    }

    [Test]
    public async Task NoTargetsAndNoMatchingRule_SaysSo_ExitsSix()
    {
        var payload = _issuer.Payload();
        payload["repository"] = "acme/elsewhere";

        var (exit, broker) = await ExplainAsync(Sign(payload), "--config", _config);

        Assert.That(exit, Is.EqualTo(6), broker.Describe());
        Assert.That(broker.Output.Lines, Has.Some.StartsWith("decision  DENIED: no rule matches this token"));
    }

    [Test]
    public async Task PullRequestTargetOnMain_ShowsTheEventCheckFailing_ExitsSix()
    {
        var payload = _issuer.Payload();
        payload["event_name"] = "pull_request_target";

        var (exit, broker) = await ExplainAsync(Sign(payload), "--config", _config);

        Assert.That(exit, Is.EqualTo(6), broker.Describe());
        Assert.That(broker.Output.Lines, Has.Some.Match(@"^  event +NOT admitted +""pull_request_target"" is not one of the events a rule admits unasked \(create, delete, merge_group, push, release, repository_dispatch, schedule, workflow_dispatch\)"));
        Assert.That(broker.Output.Lines, Has.Some.EqualTo("rule deploy (Broker:Rules:0): does not match"));
    }

    [Test]
    public async Task NotClaimMatching_ShowsTheExclusion_ExitsSix()
    {
        var payload = _issuer.Payload();
        payload["actor"] = "mallory";

        var (exit, broker) = await ExplainAsync(Sign(payload), "--config", _config);

        Assert.That(exit, Is.EqualTo(6), broker.Describe());
        Assert.That(broker.Output.Lines, Has.Some.Match(@"^  not actor +EXCLUDED +""mallory""  against mallory$"));
    }

    [Test]
    public async Task ClaimValueWithControlCharacters_IsEscaped_NotSentToTheTerminal()
    {
        var payload = _issuer.Payload();
        payload["ref"] = "refs/heads/\u001b[2Jmain\u202e";

        var (_, broker) = await ExplainAsync(Sign(payload), "--no-verify", "--config", _config);

        Assert.That(string.Join("\n", broker.Output.Lines), Does.Not.Contain("\u001b").And.Not.Contain("\u202e"));
        Assert.That(broker.Output.Lines, Has.Some.Contains(@"""refs/heads/\u001b[2Jmain\u202e"""));
    }

    [Test]
    public async Task ExpiredToken_FailsVerification_ExitsFive_AndSuggestsNoVerify_WhichThenJudgesItsClaims()
    {
        var payload = _issuer.Payload();
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        payload["iat"] = payload["nbf"] = now - 900;
        payload["exp"] = now - 600;
        var token = Sign(payload);

        var (exit, broker) = await ExplainAsync(token, "--config", _config);
        var (unverifiedExit, unverified) = await ExplainAsync(token, "--no-verify", "--config", _config);

        Assert.That(exit, Is.EqualTo(5), broker.Describe());
        Assert.That(broker.Error.Lines, Has.Some.Contains("fails verification").And.Contains("expired"));
        Assert.That(broker.Error.Lines, Has.Some.Contains("--no-verify"));
        AssertTokenNotPrinted(broker, token);
        Assert.That(unverifiedExit, Is.Zero, unverified.Describe());
        Assert.That(unverified.Output.Lines, Has.Some.StartsWith("verified  NO (--no-verify): claims are judged as written; expires "));
    }

    [Test]
    public async Task IssuerUnreachable_ExitsFive_SayingSo_AndSuggestsNoVerify()
    {
        // An "issuer" that accepts connections and closes them at once: its keys cannot be had.
        await using var deadIssuer = new TcpTestServer((_, _) => Task.CompletedTask);
        var issuer = $"http://{deadIssuer.Address}";
        var config = await WriteAsync("dead-issuer.json", ConfigFileBroker.ToJson(Configuration(issuer)));
        var token = Sign(ForgeIssuer.GitHubPayload(issuer, "ghaport"));

        var (exit, broker) = await ExplainAsync(token, "--config", config);

        Assert.That(exit, Is.EqualTo(5), broker.Describe());
        Assert.That(broker.Error.Lines, Has.Some.Contains("cannot verify").And.Contains("unreachable"));
        Assert.That(broker.Error.Lines, Has.Some.Contains("--no-verify"));
        AssertTokenNotPrinted(broker, token);
    }

    [Test]
    public async Task WithoutToken_IsAUsageError_ExitsTwo()
    {
        var (exit, broker) = await RunAsync(["policy", "explain", "--config", _config]);

        Assert.That(exit, Is.EqualTo(2), broker.Describe());
        Assert.That(broker.Error.Lines, Has.Some.Contains("--token"));
    }

    [Test]
    public async Task MissingTokenFile_ExitsTwo_NamingIt()
    {
        var missing = Path.Combine(_folder.FullName, "no-such-token");

        var (exit, broker) = await RunAsync(["policy", "explain", "--token", missing, "--config", _config]);

        Assert.That(exit, Is.EqualTo(2), broker.Describe());
        Assert.That(broker.Error.Lines, Has.Some.Contains("no-such-token"));
    }

    [Test]
    public async Task BadConfiguration_ExitsTwo_NamingTheKey()
    {
        var configuration = Configuration(_issuer.Issuer);
        configuration["Broker:Rules:0:NotClaims:actor"] = "mall***ory";
        var config = await WriteAsync("bad.json", ConfigFileBroker.ToJson(configuration));

        var (exit, broker) = await ExplainAsync(Sign(_issuer.Payload()), "--config", config);

        Assert.That(exit, Is.EqualTo(2), broker.Describe());
        Assert.That(broker.Error.Lines, Has.Some.Contains("Broker:Rules:0 (deploy):NotClaims:actor"));
    }

    [Test]
    public async Task TargetsFlag_WithAnInvalidName_IsAUsageError_ExitsTwo()
    {
        var (exit, broker) = await ExplainAsync(Sign(_issuer.Payload()), "--targets", "db,Bad_Name", "--config", _config);

        Assert.That(exit, Is.EqualTo(2), broker.Describe());
        Assert.That(broker.Error.Lines, Has.Some.Contains("'Bad_Name'"));
    }

    [Test]
    public async Task Dev_JudgesAgainstTheDevBrokersOwnPolicy_WithItsTargets_ExitsZero()
    {
        // The dev broker's issuer lives at a port of its own choosing, and its rule exists only in its memory.
        await using var devIssuer = await GitHubActionsPort.Broker.DevIssuer.DevIssuer.StartAsync().DefaultTimeout();
        var token = devIssuer.MintToken("ghaport");

        var (exit, broker) = await ExplainAsync(token, "--dev", "--target", "echo=127.0.0.1:9", "--targets", "echo", "--config", _config);

        Assert.That(exit, Is.Zero, broker.Describe());
        var output = broker.Output.Lines;
        Assert.That(output, Has.Some.StartsWith("verified  signature"));
        Assert.That(output, Has.Some.EqualTo("rule dev (Broker:Rules:dev): MATCHES"));
        Assert.That(output, Has.Some.EqualTo("rule deploy (Broker:Rules:0): does not match"), "the --config rules are judged too, as the dev broker judges them");
        Assert.That(output, Has.Some.EqualTo("decision for echo: GRANTED by dev"));
        AssertTokenNotPrinted(broker, token);
    }

    [Test]
    public async Task Dev_WithoutItsTarget_DeniesAsTheDevBrokerWould_ExitsSix()
    {
        await using var devIssuer = await GitHubActionsPort.Broker.DevIssuer.DevIssuer.StartAsync().DefaultTimeout();

        var (exit, broker) = await ExplainAsync(devIssuer.MintToken("ghaport"), "--dev", "--targets", "db", "--config", _config);

        Assert.That(exit, Is.EqualTo(6), broker.Describe());
        Assert.That(broker.Output.Lines, Has.Some.EqualTo("decision for db: DENIED"));
    }

    [Test]
    public async Task Dev_TokenOfAnIssuerOffLoopback_ExitsFive_SayingSo()
    {
        var token = Sign(ForgeIssuer.GitHubPayload("https://token.actions.githubusercontent.com", "ghaport"));

        var (exit, broker) = await ExplainAsync(token, "--dev", "--no-verify", "--target", "echo=127.0.0.1:9");

        Assert.That(exit, Is.EqualTo(5), broker.Describe());
        Assert.That(broker.Error.Lines, Has.Some.Contains("--dev").And.Contains("not a development issuer"));
    }

    [Test]
    public async Task TargetFlag_WithoutDev_IsAUsageError_ExitsTwo()
    {
        var (exit, broker) = await ExplainAsync(Sign(_issuer.Payload()), "--target", "echo=127.0.0.1:9", "--config", _config);

        Assert.That(exit, Is.EqualTo(2), broker.Describe());
        Assert.That(broker.Error.Lines, Has.Some.Contains("--target").And.Contains("--dev"));
    }

    private static Dictionary<string, string?> Configuration(string issuer) => new()
    {
        ["Broker:Issuers:0:Issuer"] = issuer,
        ["Broker:Targets:db"] = "127.0.0.1:9",
        ["Broker:Targets:api"] = "127.0.0.1:9",
        ["Broker:Targets:secret"] = "127.0.0.1:9",
        ["Broker:Rules:0:Name"] = "deploy",
        ["Broker:Rules:0:Issuer"] = issuer,
        ["Broker:Rules:0:Targets:0"] = "db",
        ["Broker:Rules:0:Targets:1"] = "api",
        ["Broker:Rules:0:Claims:repository"] = "acme/app",
        ["Broker:Rules:0:Claims:ref:0"] = "refs/heads/main",
        ["Broker:Rules:0:Claims:ref:1"] = "refs/tags/v*",
        ["Broker:Rules:0:NotClaims:actor"] = "mallory",
        ["Broker:Rules:0:MaxTtl"] = "00:30:00",
        ["Broker:Rules:0:MaxConnections"] = "4",
        ["Broker:Rules:1:Name"] = "others",
        ["Broker:Rules:1:Issuer"] = issuer,
        ["Broker:Rules:1:Targets:0"] = "secret",
        ["Broker:Rules:1:Claims:repository"] = "acme/other",
    };

    private string Sign(Dictionary<string, object> payload) => ForgeIssuer.Sign(payload, _issuer.Rs256);

    private async Task<(int ExitCode, ChildProcess Broker)> ExplainAsync(string token, params string[] args)
    {
        var file = await WriteAsync("token-" + Guid.NewGuid().ToString("N"), token);
        return await RunAsync(["policy", "explain", "--token", file, .. args]);
    }

    private static async Task<(int ExitCode, ChildProcess Broker)> RunAsync(IEnumerable<string> args)
    {
        var broker = BrokerProcess.Start(args);
        await using (broker)
        {
            return (await broker.WaitForExitAsync(), broker);
        }
    }

    private async Task<string> WriteAsync(string name, string text)
    {
        var path = Path.Combine(_folder.FullName, name);
        await File.WriteAllTextAsync(path, text);
        return path;
    }

    private static void AssertTokenNotPrinted(ChildProcess broker, string token)
    {
        Assert.That(broker.Output.Lines.Concat(broker.Error.Lines), Has.None.Contains(token), "explain must never print the token");
        Assert.That(broker.Output.Lines.Concat(broker.Error.Lines), Has.None.Contains(token.Split('.')[2]), "nor its signature");
    }
}
