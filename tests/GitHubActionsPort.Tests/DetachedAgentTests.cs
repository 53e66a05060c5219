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

    private static async Task<(int ExitCode, AgentProcess Agent)> RunToExitWithinBoundAsync(string[] args, IReadOnlyDictionary<string, string?> environment)
    {
        var agent = AgentProcess.Start(args, environment);
        return (await agent.WaitForExitAsync(FailureBound), agent);
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
