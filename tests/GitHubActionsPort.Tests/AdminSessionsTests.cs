using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using GitHubActionsPort.Agent.Cli;
using GitHubActionsPort.Broker.Admin;

namespace GitHubActionsPort.Tests;

/// <summary>
/// The admin endpoint and <c>ghaport-broker sessions</c>: an administrator ends a job's access at once, by lease or by
/// claims, and a standing block keeps it out until lifted; without the admin credential nothing happens.
/// </summary>
[TestFixture("raw")]
[TestFixture("grpc")]
public sealed class AdminSessionsTests(string lane) : TunnelFixture(lane)
{
    /// <summary>The dev issuer's workflow run: every token it mints carries it.</summary>
    private const string DevRunId = "3000001";

    private readonly string _folder = Directory.CreateTempSubdirectory("ghaport-admin-").FullName;
    private string _tokenFile = null!;

    private Uri AdminUrl => Broker.AdminAddress!;

    protected override void Configure(Dictionary<string, string?> configuration)
    {
        _tokenFile = Path.Combine(_folder, "admin-token");
        File.WriteAllText(_tokenFile, Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)) + "\n");
        configuration["Broker:Admin:TokenFile"] = _tokenFile;
    }

    [OneTimeTearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    /// <summary>Every agent of this fixture is the same run: a revocation's block on it must not outlive its test.</summary>
    [TearDown]
    public Task LiftBlocksAsync() => AdminCalls.LiftAllBlocksAsync(AdminUrl, _tokenFile);

    [Test]
    public async Task Revoke_EndsAgentAccess_ExitCode8_NoReopen()
    {
        // The agent gets its id-tokens from the job's token endpoint, so it could open a new session at any time.
        await using var agent = await StartAgentAsync("echo");
        var leaseId = await LeaseIdAsync(agent);
        var forward = agent["echo"];
        using (var client = await SocketIo.ConnectAsync(forward))
        {
            await client.SendAllAsync(new byte[] { 1 });
            Assert.That(await client.ReadExactlyAsync(1).DefaultTimeout(), Is.EqualTo(new byte[] { 1 }));
            var grantedBefore = Granted();

            var (exitCode, _, error) = await SessionsAsync("revoke", "--lease", leaseId, "--reason", "job cancelled");
            Assert.That(exitCode, Is.Zero, error);

            // Told at once, with or without a call of its own: it stops, and says why.
            Assert.That(await agent.Exit.DefaultTimeout(), Is.EqualTo(ExitCodes.LeaseEnded));
            Assert.That(agent.Error.Lines, Has.Some.Contains($"lease {leaseId}").And.Contains("revoked by an administrator").And.Contains("job cancelled"));
            Assert.That(Granted(), Is.EqualTo(grantedBefore), "no new session was opened in place of the revoked lease");
            Assert.That(agent.Logs.Entries.Where(e => e.EventId.Name is "LeaseLost" or "SessionReopened" or "SessionReopenRetry"), Is.Empty);
            Assert.That(agent.Logs.Entries.Single(e => e.EventId.Name == "LeaseEndedForGood").Message, Does.Contain("(revoked)"));
            var (_, wasReset) = await client.ReadUntilClosedAsync().DefaultTimeout();
            Assert.That(wasReset, Is.True);
        }

        // The forward no longer listens: a new local connection is refused, not queued.
        var refused = Assert.ThrowsAsync<SocketException>(async () => await SocketIo.ConnectAsync(forward));
        Assert.That(refused!.SocketErrorCode, Is.EqualTo(SocketError.ConnectionRefused));
    }

    [Test]
    public async Task Revoke_BlocksNewSessionOfSameRunAttempt_UntilUnblocked()
    {
        await using var agent = await StartAgentAsync("echo");
        var leaseId = await LeaseIdAsync(agent);

        var (exitCode, output, error) = await SessionsAsync("revoke", "--lease", leaseId);

        Assert.That(exitCode, Is.Zero, error);
        var blockLine = output.Split('\n').Single(l => l.StartsWith("block blk_", StringComparison.Ordinal));
        var blockId = blockLine.Split(' ')[1];
        Assert.That(blockLine, Does.Contain($"run_id={DevRunId}").And.Contain("run_attempt=1").And.Contain(leaseId).And.Contain($"sessions unblock {blockId}"));

        // A new agent of the same run attempt, with a fresh id-token, is refused in words naming the revocation.
        await using (var newcomer = AgentUnderTest.Run(Broker.Address, ["0:echo"], AgentUnderTest.GitHubEnvironment(Issuer), extraArgs: ["--lane", Lane], echo: TestContext.Progress))
        {
            Assert.That(await newcomer.Exit.DefaultTimeout(), Is.EqualTo(ExitCodes.TargetDenied));
            Assert.That(newcomer.Error.Lines, Has.Some.Contains($"lease {leaseId} of this run attempt was revoked by"));
        }

        var (_, listed, _) = await SessionsAsync("list");
        Assert.That(listed, Does.Contain(blockId).And.Contain($"run_id={DevRunId}").And.Contain($"lease {leaseId} of this run attempt was revoked"));

        var (unblocked, _, unblockError) = await SessionsAsync("unblock", blockId);
        Assert.That(unblocked, Is.Zero, unblockError);
        await using var after = await StartAgentAsync("echo");
        using var client = await SocketIo.ConnectAsync(after["echo"]);
        await client.SendAllAsync(new byte[] { 2 });
        Assert.That(await client.ReadExactlyAsync(1).DefaultTimeout(), Is.EqualTo(new byte[] { 2 }));
    }

    [Test]
    public async Task RevokeByLeaseId_ResetsTheLiveTunnelWithinASecond()
    {
        await using var agent = await StartAgentAsync("echo");
        var leaseId = await LeaseIdAsync(agent);
        using var client = await SocketIo.ConnectAsync(agent["echo"]);
        await client.SendAllAsync(new byte[] { 1 });
        Assert.That(await client.ReadExactlyAsync(1).DefaultTimeout(), Is.EqualTo(new byte[] { 1 }));

        var (exitCode, output, error) = await SessionsAsync("revoke", "--lease", leaseId, "--reason", "job cancelled");
        // A bound, not a benchmark: measured from the revoke's return, the tunnel must already be on its way down.
        var (_, wasReset) = await client.ReadUntilClosedAsync().WithTimeout(TimeSpan.FromSeconds(1));

        Assert.That(exitCode, Is.Zero, error);
        Assert.That(output, Does.Contain($"revoked 1 lease: {leaseId}"));
        Assert.That(wasReset, Is.True, "a revoked tunnel must not look like a clean end of stream");
        var revoked = Broker.Logs.Entries.Single(e => e.EventId.Name == "LeaseRevoked");
        Assert.That(revoked.Message, Does.Contain(leaseId).And.Contain($"{Environment.UserName}@{Environment.MachineName}").And.Contain("job cancelled"));
        var failed = await agent.Logs.WaitForAsync(e => e.EventId.Name == "TunnelFailed").DefaultTimeout();
        // A Tunnel call ends with the broker's words; the raw lane has none after its Open, only the reset, unless
        // the agent has heard why (WatchSession) before its tunnel's end is told.
        Assert.That(failed.Message, Lane == "grpc"
            ? Does.Contain("revoked by an administrator (").And.Contain("): job cancelled")
            : Does.Contain("the broker reset the connection").Or.Contain("revoked by an administrator ("));
    }

    [Test]
    public async Task RevokeByRunIdWithBlock_RefusesReopenAndNewSessions_UntilUnblocked()
    {
        await using var agent = await StartAgentAsync("echo");
        var leaseId = await LeaseIdAsync(agent);
        using var client = await SocketIo.ConnectAsync(agent["echo"]);
        await client.SendAllAsync(new byte[] { 1 });
        Assert.That(await client.ReadExactlyAsync(1).DefaultTimeout(), Is.EqualTo(new byte[] { 1 }));

        var (exitCode, output, error) = await SessionsAsync("revoke", "--claim", $"run_id={DevRunId}", "--claim", "repository=acme/*", "--block");
        Assert.That(exitCode, Is.Zero, error);
        var blockId = output.Split(' ', '\n').Single(w => w.StartsWith("blk_", StringComparison.Ordinal) && !w.EndsWith('\'')).TrimEnd(':');
        try
        {
            Assert.That(output, Does.Contain(leaseId));
            var (_, wasReset) = await client.ReadUntilClosedAsync().WithTimeout(TimeSpan.FromSeconds(1));
            Assert.That(wasReset, Is.True);

            // The running agent is told its lease was ended by a block: it asks for no new session, and stops.
            Assert.That(await agent.Exit.DefaultTimeout(), Is.EqualTo(ExitCodes.LeaseEnded));
            Assert.That(agent.Error.Lines, Has.Some.Contains("lease ended (blocked)"));
            Assert.That(agent.Logs.Entries.Where(e => e.EventId.Name is "LeaseLost" or "SessionReopenRefused"), Is.Empty);

            // A new agent of the same run is refused too.
            await using var newcomer = AgentUnderTest.Run(Broker.Address, ["0:echo"], AgentUnderTest.GitHubEnvironment(Issuer), echo: TestContext.Progress);
            Assert.That(await newcomer.Exit.DefaultTimeout(), Is.EqualTo(ExitCodes.TargetDenied));
            Assert.That(newcomer.Error.Lines, Has.Some.Contains("sessions for this job are blocked by an administrator"));

            var (_, listed, _) = await SessionsAsync("list");
            Assert.That(listed, Does.Contain(blockId).And.Contain($"run_id={DevRunId}"));
        }
        finally
        {
            var (unblocked, _, unblockError) = await SessionsAsync("unblock", blockId);
            Assert.That(unblocked, Is.Zero, unblockError);
        }

        await using var after = await StartAgentAsync("echo");
        using var third = await SocketIo.ConnectAsync(after["echo"]);
        await third.SendAllAsync(new byte[] { 3 });
        Assert.That(await third.ReadExactlyAsync(1).DefaultTimeout(), Is.EqualTo(new byte[] { 3 }));
        Assert.That(Broker.Logs.Entries.Where(e => e.EventId.Name == "SessionsBlocked").Select(e => e.Message), Has.Some.Contains(blockId));
        Assert.That(Broker.Logs.Entries.Where(e => e.EventId.Name == "SessionsUnblocked").Select(e => e.Message), Has.Some.Contains(blockId));
    }

    [Test]
    public async Task WrongOrMissingCredential_Is401_AndNothingIsRevoked()
    {
        await using var agent = await StartAgentAsync("echo");
        var leaseId = await LeaseIdAsync(agent);
        using var client = await SocketIo.ConnectAsync(agent["echo"]);
        var body = $$"""{"claims":{"run_id":"{{DevRunId}}"},"block":true}""";

        using var http = new HttpClient { BaseAddress = AdminUrl };
        using var missing = await http.PostAsync(new Uri("admin/revoke", UriKind.Relative), new StringContent(body, Encoding.UTF8, "application/json")).DefaultTimeout();
        using var wrong = new HttpRequestMessage(HttpMethod.Post, "admin/revoke") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        wrong.Headers.Authorization = new AuthenticationHeaderValue("Bearer", new string('x', 64));
        using var wrongReply = await http.SendAsync(wrong).DefaultTimeout();
        using var unknownPath = await http.GetAsync(new Uri("admin/nothing-here", UriKind.Relative)).DefaultTimeout();
        var wrongFile = Path.Combine(_folder, "wrong-token");
        await File.WriteAllTextAsync(wrongFile, new string('y', 48));
        var (cliExit, _, cliError) = await SessionsWithAsync(null, wrongFile, "list");

        Assert.That(missing.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(wrongReply.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(unknownPath.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized), "without the credential, not even which paths exist is told");
        Assert.That(cliExit, Is.EqualTo(SessionsCommand.ExitCredentialRefused));
        Assert.That(cliError, Does.Contain("refused the credential"));
        Assert.That(Broker.Logs.Entries.Count(e => e.EventId.Name == "AdminUnauthorized"), Is.GreaterThanOrEqualTo(4));
        Assert.That(Broker.Logs.Entries.Any(e => e.EventId.Name is "LeaseRevoked" or "SessionsBlocked" && e.Message.Contains(leaseId, StringComparison.Ordinal)), Is.False);
        await client.SendAllAsync(new byte[] { 7 });
        Assert.That(await client.ReadExactlyAsync(1).DefaultTimeout(), Is.EqualTo(new byte[] { 7 }), "the lease is untouched");
    }

    [Test]
    public async Task SessionsList_FromTheBrokerProcess_WithOnlyTheConfigFile_ShowsTheLiveLease()
    {
        await using var agent = await StartAgentAsync("echo");
        var leaseId = await LeaseIdAsync(agent);
        var config = Path.Combine(_folder, "broker.json");
        await File.WriteAllTextAsync(config, JsonSerializer.Serialize(new { Broker = new { Admin = new { Url = AdminUrl.ToString(), TokenFile = _tokenFile } } }));

        // The broker's host, as an operator runs it: no flags but the broker's own configuration file.
        await using var cli = BrokerProcess.Start(["sessions", "list", "--config", config], new Dictionary<string, string?> { ["Broker__Admin__Url"] = null });
        var exitCode = await cli.WaitForExitAsync();

        Assert.That(exitCode, Is.Zero, string.Join(Environment.NewLine, cli.Error.Lines));
        Assert.That(cli.Output.Lines[0], Does.StartWith("LEASE"));
        Assert.That(cli.Output.Lines, Has.Some.Contains(leaseId).And.Contains("echo").And.Contains($"{DevRunId}/1").And.Contains("repository=acme/app"));
    }

    [Test]
    public async Task RevokeUnknownLease_IsNotFound_AndBadRequestsAreUsageErrors()
    {
        var (unknown, _, unknownError) = await SessionsAsync("revoke", "--lease", "lse_0000000000000000");
        var (badPattern, _, badPatternError) = await SessionsAsync("revoke", "--claim", "ref=refs/***");
        var (nothing, _, nothingError) = await SessionsAsync("revoke");
        var (blockLease, _, _) = await SessionsAsync("revoke", "--lease", "lse_1", "--block");
        var (unknownBlock, _, _) = await SessionsAsync("unblock", "blk_000000000000");

        Assert.That(unknown, Is.EqualTo(SessionsCommand.ExitNotFound), unknownError);
        Assert.That(badPattern, Is.EqualTo(SessionsCommand.ExitUsage));
        Assert.That(badPatternError, Does.Contain("'***'"));
        Assert.That(nothing, Is.EqualTo(SessionsCommand.ExitUsage));
        Assert.That(nothingError, Does.Contain("--lease ID or one or more --claim"));
        Assert.That(blockLease, Is.EqualTo(SessionsCommand.ExitUsage));
        Assert.That(unknownBlock, Is.EqualTo(SessionsCommand.ExitNotFound));
    }

    [Test]
    public async Task UnreachableAdminEndpoint_ExitsWithFour()
    {
        // A port the OS just handed out and nobody listens on any more.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();

        var (exitCode, _, error) = await SessionsWithAsync(new Uri($"http://127.0.0.1:{port}"), null, "list");

        Assert.That(exitCode, Is.EqualTo(SessionsCommand.ExitUnreachable));
        Assert.That(error, Does.Contain("cannot reach the admin endpoint"));
    }

    /// <summary>Sessions the broker has granted so far.</summary>
    private int Granted() => Broker.Logs.Entries.Count(e => e.EventId.Name == "SessionGranted");

    private static async Task<string> LeaseIdAsync(AgentUnderTest agent)
    {
        var opened = await agent.Logs.WaitForAsync(e => e.EventId.Name == "SessionOpened").DefaultTimeout();
        return opened.Message.Split(' ').First(w => w.StartsWith("lse_", StringComparison.Ordinal)).TrimEnd(',');
    }

    /// <summary>Runs <c>ghaport-broker sessions ...</c> in-process against this fixture's broker.</summary>
    private Task<(int ExitCode, string Output, string Error)> SessionsAsync(params string[] args) => SessionsWithAsync(null, null, args);

    private Task<(int ExitCode, string Output, string Error)> SessionsWithAsync(Uri? url, string? tokenFile, params string[] args) =>
        AdminCalls.SessionsAsync(url ?? AdminUrl, tokenFile ?? _tokenFile, args);
}
