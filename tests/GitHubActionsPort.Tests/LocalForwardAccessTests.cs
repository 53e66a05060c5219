using System.Net;
using GitHubActionsPort.Agent.Cli;
using GitHubActionsPort.Agent.Forwarding;

namespace GitHubActionsPort.Tests;

/// <summary>
/// Who may use a forward. One that other machines can reach is refused unless <c>--allow-remote-clients</c> asks
/// for it, and then warned about in the log and the step summary. On Linux a loopback forward serves only the
/// agent's own user and root: a real process of another user (nobody, run through setpriv) is reset and logged,
/// unless <c>--allow-any-local-user</c>.
/// </summary>
public sealed class LocalForwardAccessTests : TunnelFixture
{
    private const int NobodyUid = 65534;

    [TestCase("0.0.0.0:0:echo")]
    [TestCase("[::]:0:echo")]
    [TestCase("10.1.2.3:0:echo")]
    public async Task NonLoopbackForward_WithoutAllowRemoteClients_IsAUsageError_NamingTheFlag(string forward)
    {
        await using var agent = AgentUnderTest.Run(Broker.Address, [forward], AgentUnderTest.GitHubEnvironment(Issuer));

        var exitCode = await agent.Exit.DefaultTimeout();

        Assert.That(exitCode, Is.EqualTo(ExitCodes.Usage), string.Join(Environment.NewLine, agent.Error.Lines));
        Assert.That(agent.Error.Lines, Has.Some.Contains("--allow-remote-clients"));
    }

    [TestCase("localhost:0:echo")]
    [TestCase("127.0.0.2:0:echo")]
    [TestCase("[::1]:0:echo")]
    [TestCase("0:echo")]
    public void LoopbackForward_NeedsNoFlag(string forward) =>
        Assert.That(UpArguments.Parse(["--broker", "https://broker.example", "--forward", forward]).AllowRemoteClients, Is.False);

    [Test]
    public async Task AllInterfacesForward_WithAllowRemoteClients_Serves_AndWarnsInTheLogAndTheStepSummary()
    {
        var summary = Path.Combine(Path.GetTempPath(), "ghaport-summary-" + Guid.NewGuid().ToString("N"));
        try
        {
            var environment = AgentUnderTest.GitHubEnvironment(Issuer);
            environment["GITHUB_STEP_SUMMARY"] = summary;
            await using var agent = await AgentUnderTest.StartAsync(Broker.Address, ["0.0.0.0:0:echo"], environment, extraArgs: ["--allow-remote-clients"]);

            Assert.That(agent["echo"].Address, Is.EqualTo(IPAddress.Any));
            await AssertEchoesAsync(new IPEndPoint(IPAddress.Loopback, agent["echo"].Port));
            Assert.That(agent.Logs.Entries, Has.Some.Matches<LogEntry>(e => e.Level == LogLevel.Warning && e.EventId.Name == "RemoteClientsAllowed" && e.Message.Contains("0.0.0.0:", StringComparison.Ordinal)));
            Assert.That(File.ReadAllText(summary), Does.Contain("--allow-remote-clients").And.Contain("0.0.0.0:" + agent["echo"].Port));
        }
        finally
        {
            File.Delete(summary);
        }
    }

    [Test]
    public async Task OtherLocalUser_IsRefusedAndLogged_WhileTheAgentsOwnUserIsServed()
    {
        RequireRootAndSetpriv();
        await using var agent = await StartAgentAsync("echo");

        var reply = await ConnectAsNobodyAsync(agent["echo"], connections: 1);

        Assert.That(reply, Has.Count.EqualTo(1).And.All.EqualTo("got:"), "the other user's connection is reset before anything reaches the target");
        var refusal = await agent.Logs.WaitForAsync(e => e.EventId.Name == "OtherUserRefused").DefaultTimeout();
        Assert.That(refusal.Level, Is.EqualTo(LogLevel.Warning));
        Assert.That(refusal.Message, Does.Contain($"uid {NobodyUid}").And.Contain("--allow-any-local-user"));
        await AssertEchoesAsync(agent["echo"]);
    }

    [Test]
    public async Task OtherLocalUserFlood_IsLoggedOnce()
    {
        RequireRootAndSetpriv();
        await using var agent = await StartAgentAsync("echo");

        var replies = await ConnectAsNobodyAsync(agent["echo"], connections: 20);

        Assert.That(replies, Has.Count.EqualTo(20).And.All.EqualTo("got:"));
        await agent.Logs.WaitForAsync(e => e.EventId.Name == "OtherUserRefused").DefaultTimeout();
        Assert.That(agent.Logs.Entries.Count(e => e.EventId.Name == "OtherUserRefused"), Is.EqualTo(1), "one line per interval, however many connections");
    }

    [Test]
    public async Task OtherLocalUser_WritingAndClosingAtOnce_NeverReachesTheTarget()
    {
        RequireRootAndSetpriv();
        await using var agent = await StartAgentAsync("echo");
        var dialsBefore = Echo.AcceptedCount;

        // Write and close before the agent looks: the client's end is then no process's, which must not pass as root's.
        var script = $$"""
            for i in $(seq 20); do
              exec 3<>/dev/tcp/{{agent["echo"].Address}}/{{agent["echo"].Port}} && printf hello >&3 2>/dev/null
              exec 3>&-
            done
            """;
        await using (var client = ChildProcess.StartProgram("/usr/bin/setpriv", [$"--reuid={NobodyUid}", $"--regid={NobodyUid}", "--clear-groups", "/bin/bash", "-c", script]))
        {
            Assert.That(await client.WaitForExitAsync(), Is.Zero, client.Describe());
        }

        // Accepted in order: once ours is served, each of the twenty was judged before it.
        await AssertEchoesAsync(agent["echo"]);
        Assert.That(Echo.AcceptedCount, Is.EqualTo(dialsBefore + 1), "only our own connection reached the target");
        Assert.That(agent.Logs.Entries, Has.Some.Matches<LogEntry>(e => e.EventId.Name is "OtherUserRefused" or "UnknownUserRefused"));
    }

    [Test]
    public async Task OtherLocalUser_WithAllowAnyLocalUser_IsServed()
    {
        RequireRootAndSetpriv();
        await using var agent = await AgentUnderTest.StartAsync(
            Broker.Address, ["0:echo"], AgentUnderTest.GitHubEnvironment(Issuer), extraArgs: ["--lane", Lane, "--allow-any-local-user"]);

        var reply = await ConnectAsNobodyAsync(agent["echo"], connections: 1);

        Assert.That(reply, Has.Count.EqualTo(1).And.All.EqualTo("got:hello"));
        Assert.That(agent.Logs.Entries, Has.None.Matches<LogEntry>(e => e.EventId.Name == "OtherUserRefused"));
    }

    private static void RequireRootAndSetpriv()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Ignore("the local-user check is Linux only");
            return;
        }

        if (LocalPeerOwner.EffectiveUserId != 0)
        {
            Assert.Ignore("needs root, to run a client as another user (nobody)");
        }

        if (!File.Exists("/usr/bin/setpriv") || !File.Exists("/bin/bash"))
        {
            Assert.Ignore("needs setpriv and bash to run a client as another user");
        }
    }

    /// <summary>
    /// Connects <paramref name="connections"/> times as uid 65534 from a real bash process, sends "hello" and reads
    /// up to five bytes back each time: one "got:REPLY" line per connection.
    /// </summary>
    private static async Task<IReadOnlyList<string>> ConnectAsNobodyAsync(IPEndPoint forward, int connections)
    {
        var script = $$"""
            for i in $(seq {{connections}}); do
              reply=
              if exec 3<>/dev/tcp/{{forward.Address}}/{{forward.Port}}; then
                printf hello >&3 2>/dev/null
                IFS= read -r -t 10 -n 5 reply <&3 2>/dev/null
                exec 3>&-
              fi
              printf 'got:%s\n' "$reply"
            done
            """;
        await using var client = ChildProcess.StartProgram(
            "/usr/bin/setpriv", [$"--reuid={NobodyUid}", $"--regid={NobodyUid}", "--clear-groups", "/bin/bash", "-c", script]);
        var exitCode = await client.WaitForExitAsync();
        Assert.That(exitCode, Is.Zero, client.Describe());
        return client.Output.Lines.ToList();
    }

    private static async Task AssertEchoesAsync(IPEndPoint forward)
    {
        using var client = await SocketIo.ConnectAsync(forward);
        var data = SocketIo.RandomBytes(1024);
        await client.SendAllAsync(data);
        Assert.That(await client.ReadExactlyAsync(data.Length).DefaultTimeout(), Is.EqualTo(data), "the agent's own user is served");
    }
}
