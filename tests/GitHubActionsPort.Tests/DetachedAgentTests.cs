using System.Net.Sockets;
using GitHubActionsPort.Agent.Cli;

namespace GitHubActionsPort.Tests;

/// <summary>
/// <c>ghaport up --detach</c>, <c>status</c> and <c>down</c> as a workflow runs them: real processes, GitHub's
/// token endpoint (the dev issuer), and the files GitHub Actions reads back.
/// </summary>
public sealed class DetachedAgentTests : TunnelFixture
{
    /// <summary>What a job may wait for a failed start: its cause must come well within a step's patience.</summary>
    private static readonly TimeSpan FailureBound = TimeSpan.FromSeconds(5);

    private static readonly string[] ExpectedOutputs = ["port", "port-echo", "address", "expires-at", "lease-id"];

    private string _folder = null!;
    private string _adminFolder = null!;
    private string _adminTokenFile = null!;

    protected override void Configure(Dictionary<string, string?> configuration)
    {
        _adminFolder = Directory.CreateTempSubdirectory("ghaport-detach-admin-").FullName;
        _adminTokenFile = Path.Combine(_adminFolder, "admin-token");
        File.WriteAllText(_adminTokenFile, Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)) + "\n");
        configuration["Broker:Admin:TokenFile"] = _adminTokenFile;
    }

    [OneTimeTearDown]
    public void DeleteAdminFolder() => Directory.Delete(_adminFolder, recursive: true);

    protected override Dictionary<string, string> ExtraTargets()
    {
        using var closed = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        closed.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        return new() { ["refused"] = $"127.0.0.1:{((System.Net.IPEndPoint)closed.LocalEndPoint!).Port}" };
    }

    [SetUp]
    public void CreateFolder() => _folder = Directory.CreateTempSubdirectory("ghaport-detach-").FullName;

    [TearDown]
    public async Task StopAnyAgentAsync()
    {
        await using (var down = AgentProcess.Start(["down", "--state-dir", StateDir], Environment()))
        {
            await down.WaitForExitAsync();
        }

        Directory.Delete(_folder, recursive: true);
        await AdminCalls.LiftAllBlocksAsync(Broker.AdminAddress!, _adminTokenFile);
    }

    [Test]
    public async Task Detached_Revoke_StatusShowsEndedLeaseAndReason_AndDownReportsIt()
    {
        int pid;
        await using (var up = AgentProcess.Start(Up("0:echo"), Environment()))
        {
            Assert.That(await up.WaitForExitAsync(), Is.Zero, up.Process.Describe());
            pid = BackgroundPid(up);
        }

        var leaseId = ReadOutputs()["lease-id"];
        var (revoked, _, revokeError) = await AdminCalls.SessionsAsync(Broker.AdminAddress!, _adminTokenFile, "revoke", "--lease", leaseId, "--reason", "job cancelled");
        Assert.That(revoked, Is.Zero, revokeError);

        // The background agent stops on its own, and nobody reads its exit code: status and down say what happened.
        await WaitForExitAsync(pid);
        await using (var status = AgentProcess.Start(["status", "--state-dir", StateDir], Environment()))
        {
            Assert.That(await status.WaitForExitAsync(), Is.EqualTo(ExitCodes.LeaseEnded), status.Process.Describe());
            Assert.That(status.Output.Lines[0], Does.StartWith($"lease {leaseId} ended: ").And.Contain("revoked by an administrator").And.Contain("job cancelled"));
        }

        await using (var down = AgentProcess.Start(["down", "--state-dir", StateDir], Environment()))
        {
            Assert.That(await down.WaitForExitAsync(), Is.EqualTo(ExitCodes.LeaseEnded), down.Process.Describe());
            Assert.That(down.Output.Lines, Has.Some.Contains("had already stopped").And.Contains(leaseId).And.Contains("revoked by an administrator"));
        }

        Assert.That(File.ReadAllText(SummaryFile), Does.Contain(leaseId).And.Contain("revoked by an administrator"));
        Assert.That(AgentsUsing(StateDir), Is.Empty);
    }

    [Test]
    public async Task Status_CountsPerForward_WithFailures()
    {
        await using (var up = AgentProcess.Start([.. Up("0:echo"), "--forward", "0:echo", "--forward", "0:refused", "--no-probe"], Environment()))
        {
            Assert.That(await up.WaitForExitAsync(), Is.Zero, up.Process.Describe());
            var ready = up.Output.Lines.Select(l => ReadyLine.TryParse(l, out var address, out var target) ? (address, target) : default).Where(r => r.address is not null).ToList();
            Assert.That(string.Join(' ', ready.Select(r => r.target)), Is.EqualTo("echo echo refused"));

            using (var client = await SocketIo.ConnectAsync(ready[0].address))
            {
                await client.SendAllAsync("ping"u8.ToArray());
                client.Shutdown(SocketShutdown.Send);
                Assert.That(await client.ReadToEndAsync().DefaultTimeout(), Is.EqualTo("ping"u8.ToArray()));
            }

            using (var client = await SocketIo.ConnectAsync(ready[2].address))
            {
                var (_, wasReset) = await client.ReadUntilClosedAsync().DefaultTimeout();
                Assert.That(wasReset, Is.True, "a connection the broker could not carry is reset");
            }

            await using var status = AgentProcess.Start(["status", "--state-dir", StateDir], Environment());
            Assert.That(await status.WaitForExitAsync(), Is.Zero, status.Process.Describe());
            Assert.That(string.Join(' ', status.Output.Lines[1].Split(' ', StringSplitOptions.RemoveEmptyEntries)), Is.EqualTo("FORWARD TARGET CONNECTIONS ACTIVE FAILED REFUSED SENT RECEIVED"));
            var rows = status.Output.Lines.Skip(2).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToDictionary(r => r[0], r => string.Join(' ', r[1..6]));
            // Target, connections, active, failed, refused: each forward its own, not its target's.
            Assert.That(rows[ready[0].address.ToString()], Is.EqualTo("echo 1 0 0 0"));
            Assert.That(rows[ready[1].address.ToString()], Is.EqualTo("echo 0 0 0 0"));
            Assert.That(rows[ready[2].address.ToString()], Is.EqualTo("refused 0 0 0 1"));
        }
    }

    [Test]
    public async Task FailedDetach_ClosesItsLease()
    {
        var seen = Broker.Logs.Entries.Count;

        var (exitCode, agent) = await RunToExitWithinBoundAsync(Up("0:refused"), Environment());

        Assert.That(exitCode, Is.EqualTo(ExitCodes.NotReady), agent.Process.Describe());
        var granted = Broker.Logs.Entries.Skip(seen).Single(e => e.EventId.Name == "SessionGranted");
        var leaseId = granted.Message.Split(' ')[1];
        // The background agent got a lease and then failed its probe: the lease must not outlive it.
        await Broker.Logs.WaitForAsync(e => e.EventId.Name == "SessionClosed" && e.Message.Contains(leaseId, StringComparison.Ordinal)).DefaultTimeout();
    }

    [Test]
    public async Task DetachTimeout_LogHasThisRunsLines()
    {
        // A broker that takes the connection and never says a word.
        using var silent = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        silent.Start();
        var broker = $"http://127.0.0.1:{((System.Net.IPEndPoint)silent.LocalEndpoint).Port}/";

        var (exitCode, agent) = await RunToExitWithinBoundAsync(
            ["up", "--broker", broker, "--forward", "0:echo", "--detach", "--timeout", "2s", "--state-dir", StateDir], Environment(), FailureBound + TimeSpan.FromSeconds(2));

        Assert.That(exitCode, Is.EqualTo(ExitCodes.NotReady), agent.Process.Describe());
        var said = agent.Error.Lines.Single(l => l.Contains("was not ready within", StringComparison.Ordinal));
        var log = Path.Combine(StateDir, "agent.log");
        Assert.That(said, Does.Contain(log));
        var pid = said.Split("(pid ")[1].Split(')')[0];
        Assert.That(File.ReadAllLines(log), Has.Some.Contains($"pid {pid}").And.Contains(broker), "the log it points at holds this run's lines");
        Assert.That(AgentsUsing(StateDir), Is.Empty, "the stopped agent leaves no process behind");
    }

    private string StateDir => Path.Combine(_folder, "state");

    private string OutputFile => Path.Combine(_folder, "github_output");

    private string SummaryFile => Path.Combine(_folder, "step_summary");

    [Test]
    public async Task UpDetach_ReturnsReady_ThenStatus_ThenDown_ClosesLeaseAndLeavesNoProcess()
    {
        await using var up = AgentProcess.Start(Up("0:echo"), Environment());
        Assert.That(await up.WaitForExitAsync(), Is.Zero, up.Process.Describe());

        // The port accepts the moment 'up' returns: the job's next step needs no retry loop.
        var outputs = ReadOutputs();
        using (var client = await SocketIo.ConnectAsync(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, int.Parse(outputs["port"], System.Globalization.CultureInfo.InvariantCulture))))
        {
            await client.SendAllAsync("ping"u8.ToArray());
            client.Shutdown(SocketShutdown.Send);
            Assert.That(await client.ReadToEndAsync().DefaultTimeout(), Is.EqualTo("ping"u8.ToArray()));
        }

        Assert.That(up.Output.Lines, Has.Some.StartsWith("ready 127.0.0.1:").And.EndsWith("-> echo"));
        Assert.That(outputs.Keys, Is.SupersetOf(ExpectedOutputs));
        Assert.That(up.Output.Lines.Where(l => l.StartsWith("::add-mask::", StringComparison.Ordinal)).ToList(), Has.Count.EqualTo(2), "the id-token and the lease token are masked before anything else is printed");

        await using (var status = AgentProcess.Start(["status", "--json", "--state-dir", StateDir], Environment()))
        {
            Assert.That(await status.WaitForExitAsync(), Is.Zero, status.Process.Describe());
            var json = string.Join('\n', status.Output.Lines);
            Assert.That(json, Does.Contain(outputs["lease-id"]).And.Contain("\"connections\": 1").And.Contain("\"bytesSent\": 4"));
        }

        await using (var down = AgentProcess.Start(["down", "--state-dir", StateDir], Environment()))
        {
            Assert.That(await down.WaitForExitAsync(), Is.Zero, down.Process.Describe());
            var said = down.Output.Lines.Single(l => l.Contains("stopped the background agent", StringComparison.Ordinal));
            var pid = int.Parse(said.Split("pid ")[1].Split(')')[0], System.Globalization.CultureInfo.InvariantCulture);
            Assert.That(ProcessIsRunning(pid), Is.False, "down leaves no process behind");
        }

        await Broker.Logs.WaitForAsync(e => e.EventId.Name == "SessionClosed" && e.Message.Contains(outputs["lease-id"], StringComparison.Ordinal)).DefaultTimeout();
        var summary = File.ReadAllText(SummaryFile);
        Assert.That(summary, Does.Contain(outputs["lease-id"]).And.Contain("| echo |").And.Contain("ghaport down"));
    }

    [Test]
    public async Task UpDetach_SeveralBrokers_DeadFirst_StatusShowsEachBroker_AndTheOneInUse()
    {
        var dead = $"http://127.0.0.1:{SocketIo.ReleasedLoopbackPort()}";
        var live = Broker.Address.GetLeftPart(UriPartial.Authority);
        await using var up = AgentProcess.Start(["up", "--broker", dead, "--broker", live, "--forward", "0:echo", "--detach", "--timeout", "30s", "--state-dir", StateDir], Environment());
        Assert.That(await up.WaitForExitAsync(), Is.Zero, up.Process.Describe());
        Assert.That(up.Output.Lines, Has.Member($"broker {live} in use (brokers: {dead}, {live})"), "the step's log says which broker carries the job");

        await using (var status = AgentProcess.Start(["status", "--state-dir", StateDir], Environment()))
        {
            Assert.That(await status.WaitForExitAsync(), Is.Zero, status.Process.Describe());
            Assert.That(status.Output.Lines[0], Does.Contain($"(broker {live}, pid "));
            Assert.That(status.Output.Lines[1], Is.EqualTo($"brokers: {dead}, {live} (in use)"));
        }

        await using (var json = AgentProcess.Start(["status", "--json", "--state-dir", StateDir], Environment()))
        {
            Assert.That(await json.WaitForExitAsync(), Is.Zero, json.Process.Describe());
            using var document = System.Text.Json.JsonDocument.Parse(string.Join('\n', json.Output.Lines));
            Assert.That(document.RootElement.GetProperty("broker").GetString(), Is.EqualTo(live));
            Assert.That(document.RootElement.GetProperty("brokers").EnumerateArray().Select(b => b.GetString()), Is.EqualTo((string[])[dead, live]));
        }
    }

    [Test]
    public async Task UpDetach_DeniedTarget_ExitsWithTargetDenied_AndLeavesNoProcess()
    {
        var (exitCode, agent) = await RunToExitWithinBoundAsync(Up("0:nosuch"), Environment());

        Assert.That(exitCode, Is.EqualTo(ExitCodes.TargetDenied), agent.Process.Describe());
        Assert.That(agent.Error.Lines, Has.Some.StartsWith("::error title=ghaport::").And.Contains("'nosuch'"));
        Assert.That(AgentsUsing(StateDir), Is.Empty, "a failed start leaves no process behind");
    }

    [Test]
    public async Task UpDetach_TargetNotAnswering_ExitsNotReady_AndLeavesNoProcess()
    {
        var (exitCode, agent) = await RunToExitWithinBoundAsync(Up("0:refused"), Environment());

        Assert.That(exitCode, Is.EqualTo(ExitCodes.NotReady), agent.Process.Describe());
        Assert.That(agent.Error.Lines, Has.Some.Contains("did not answer through the broker").And.Contains("--no-probe"));
        Assert.That(AgentsUsing(StateDir), Is.Empty);
    }

    [Test]
    public async Task UpDetach_NoProbe_IsReadyEvenWhenTheTargetDoesNotAnswer()
    {
        await using var up = AgentProcess.Start([.. Up("0:refused"), "--no-probe"], Environment());

        Assert.That(await up.WaitForExitAsync(), Is.Zero, up.Process.Describe());
        Assert.That(up.Output.Lines, Has.Some.EndsWith("-> refused"));
    }

    [Test]
    public async Task UpDetach_WithoutIdTokenPermission_ExitsWithNoIdToken_AndNamesTheFix()
    {
        var environment = Environment();
        environment.Remove("ACTIONS_ID_TOKEN_REQUEST_URL");
        environment.Remove("ACTIONS_ID_TOKEN_REQUEST_TOKEN");

        var (exitCode, agent) = await RunToExitWithinBoundAsync(Up("0:echo"), environment);

        Assert.That(exitCode, Is.EqualTo(ExitCodes.IdTokenUnavailable), agent.Process.Describe());
        Assert.That(agent.Error.Lines, Has.Some.Contains("id-token: write"));
    }

    [Test]
    public async Task UpDetach_WrongAudience_ExitsWithTokenRejected()
    {
        var (exitCode, agent) = await RunToExitWithinBoundAsync([.. Up("0:echo"), "--audience", "not-the-broker"], Environment());

        Assert.That(exitCode, Is.EqualTo(ExitCodes.TokenRejected), agent.Process.Describe());
        Assert.That(agent.Error.Lines, Has.Some.Contains("audience"));
    }

    [Test]
    public async Task UpDetach_WhileAnAgentRuns_IsRefused()
    {
        await using (var first = AgentProcess.Start(Up("0:echo"), Environment()))
        {
            Assert.That(await first.WaitForExitAsync(), Is.Zero, first.Process.Describe());
        }

        var (exitCode, second) = await RunToExitWithinBoundAsync(Up("0:echo"), Environment());

        Assert.That(exitCode, Is.EqualTo(ExitCodes.Usage), second.Process.Describe());
        Assert.That(second.Error.Lines, Has.Some.Contains("ghaport down"));
    }

    [Test]
    public async Task DownAndStatus_WithNoAgent_SayWhatTheyFound()
    {
        await using var down = AgentProcess.Start(["down", "--state-dir", StateDir], Environment());
        await using var status = AgentProcess.Start(["status", "--state-dir", StateDir], Environment());

        Assert.That(await down.WaitForExitAsync(), Is.Zero, "a cleanup step may always run 'down'");
        Assert.That(down.Output.Lines, Has.Some.Contains("no background agent"));
        Assert.That(await status.WaitForExitAsync(), Is.EqualTo(ExitCodes.Failure));
        Assert.That(status.Error.Lines, Has.Some.Contains("no background agent"));
    }

    private string[] Up(string forward) =>
        ["up", "--broker", Broker.Address.ToString(), "--forward", forward, "--detach", "--timeout", "30s", "--state-dir", StateDir];

    private Dictionary<string, string?> Environment()
    {
        var environment = AgentUnderTest.GitHubEnvironment(Issuer);
        environment["GITHUB_OUTPUT"] = OutputFile;
        environment["GITHUB_STEP_SUMMARY"] = SummaryFile;
        return environment;
    }

    private Dictionary<string, string> ReadOutputs() =>
        File.ReadAllLines(OutputFile).Select(l => l.Split('=', 2)).ToDictionary(p => p[0], p => p[1], StringComparer.Ordinal);

    private static async Task<(int ExitCode, AgentProcess Agent)> RunToExitWithinBoundAsync(string[] args, IReadOnlyDictionary<string, string?> environment, TimeSpan? bound = null)
    {
        var agent = AgentProcess.Start(args, environment);
        return (await agent.WaitForExitAsync(bound ?? FailureBound), agent);
    }

    /// <summary>The background agent's pid, from the launcher's last line (in the step's log, as GitHub shows it).</summary>
    private static int BackgroundPid(AgentProcess up) =>
        int.Parse(up.Output.Lines.Single(l => l.Contains("running in the background", StringComparison.Ordinal)).Split("(pid ")[1].Split(')')[0], System.Globalization.CultureInfo.InvariantCulture);

    private static async Task WaitForExitAsync(int pid)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            await process.WaitForExitAsync().DefaultTimeout();
        }
        catch (ArgumentException)
        {
            // Gone already.
        }
    }

    private static bool ProcessIsRunning(int pid)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    /// <summary>Live processes whose command line names <paramref name="stateDirectory"/> (Linux's /proc).</summary>
    private static List<int> AgentsUsing(string stateDirectory)
    {
        if (!Directory.Exists("/proc"))
        {
            Assert.Ignore("Needs /proc to list processes.");
        }

        var found = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), out var pid) && pid != System.Environment.ProcessId)
            {
                try
                {
                    if (File.ReadAllText(Path.Combine(dir, "cmdline")).Contains(stateDirectory, StringComparison.Ordinal))
                    {
                        found.Add(pid);
                    }
                }
                catch (IOException)
                {
                    // Gone while we looked.
                }
                catch (UnauthorizedAccessException)
                {
                }
            }
        }

        return found;
    }
}
