using System.Net;
using System.Net.Sockets;

namespace GitHubActionsPort.Tests;

/// <summary>
/// The action as a workflow gets it, end to end under Node 24: main.js downloads the real released agent (Native AOT,
/// published for this machine) from a stand-in for GitHub releases, verifies it against the checksums in its own copy
/// of the action, caches it, runs <c>ghaport up --detach</c> against a real broker with GitHub's token endpoint (the
/// dev issuer); a later step's bytes cross the tunnel; post.js runs <c>ghaport down</c> with the downloaded binary.
/// </summary>
[Platform(Exclude = "Win", Reason = "the sandbox's PATH and runner layout are Unix ones")]
public sealed class ActionEndToEndTests : TunnelFixture
{
    private const string TestVersion = "0.0.2-e2e";

    private ActionSandbox _sandbox = null!;
    private ReleaseServer _server = null!;

    [SetUp]
    public async Task CreateSandboxAsync()
    {
        _sandbox = ActionSandbox.Create();
        _server = await ReleaseServer.StartAsync();
    }

    [TearDown]
    public async Task StopAgentAndDeleteSandboxAsync()
    {
        if (_sandbox is not null)
        {
            // Whatever the test did, no background agent outlives it (its state is in RUNNER_TEMP/ghaport).
            await using var down = AgentProcess.Start(["down", "--state-dir", Path.Combine(_sandbox.RunnerTemp, "ghaport")]);
            await down.WaitForExitAsync();
        }

        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        _sandbox?.Dispose();
    }

    [Test]
    public async Task Action_DownloadsTheReleasedAgent_VerifiesIt_OpensThePort_AndPostClosesIt()
    {
        var agent = await PublishedAgent.PathAsync();
        _sandbox.SetRelease(TestVersion);
        _sandbox.WriteChecksums(TestVersion, (ActionSandbox.HostAsset, ActionSandbox.Sha256Of(agent)));
        var assetPath = $"/v{TestVersion}/{ActionSandbox.HostAsset}";
        _server.Redirect(assetPath, "/release-assets/ghaport-agent");
        _server.Serve("/release-assets/ghaport-agent", agent);
        var environment = new Dictionary<string, string?>(AgentUnderTest.GitHubEnvironment(Issuer))
        {
            ["INPUT_BROKER"] = Broker.Address.ToString(),
            ["INPUT_FORWARDS"] = "0:echo",
            ["INPUT_AUDIENCE"] = "ghaport",
            ["INPUT_VERSION"] = "",
            ["INPUT_DOWNLOAD-URL"] = _server.Root,
            ["INPUT_TIMEOUT"] = "30s",
            ["INPUT_LANE"] = "auto",
        };

        var (exitCode, output) = await _sandbox.RunAsync("main.js", environment);

        Assert.That(exitCode, Is.Zero, output);
        Assert.That(_server.Requests, Is.EqualTo((string[])[assetPath, "/release-assets/ghaport-agent"]));
        var cached = _sandbox.CachedBinary(TestVersion);
        Assert.That(ActionSandbox.Sha256Of(cached), Is.EqualTo(ActionSandbox.Sha256Of(agent)));
        Assert.That(_sandbox.State(), Is.EqualTo((string[])["started=true", "ghaport=" + cached]));
        Assert.That(output, Does.Contain("ready 127.0.0.1:").And.Contain("-> echo"));

        // The next step connects to the port the action wrote to its outputs: bytes cross the broker and back.
        var outputs = _sandbox.Outputs();
        using (var client = await SocketIo.ConnectAsync(new IPEndPoint(IPAddress.Loopback, int.Parse(outputs["port"], System.Globalization.CultureInfo.InvariantCulture))))
        {
            await client.SendAllAsync("ping"u8.ToArray());
            client.Shutdown(SocketShutdown.Send);
            Assert.That(await client.ReadToEndAsync().DefaultTimeout(), Is.EqualTo("ping"u8.ToArray()));
        }

        // The post step: state as the runner hands it over, the job's PATH (no tool cache on it).
        var state = _sandbox.State().Select(l => l.Split('=', 2)).ToDictionary(p => "STATE_" + p[0], p => (string?)p[1]);
        var (postCode, postOutput) = await _sandbox.RunAsync("post.js", state);

        Assert.That(postCode, Is.Zero, postOutput);
        Assert.That(postOutput, Does.Contain("stopped the background agent"));
        Assert.That(postOutput, Does.Not.Contain("::warning"));
        await Broker.Logs.WaitForAsync(e => e.EventId.Name == "SessionClosed" && e.Message.Contains(outputs["lease-id"], StringComparison.Ordinal)).DefaultTimeout();
        Assert.That(File.ReadAllText(_sandbox.SummaryFile), Does.Contain(outputs["lease-id"]).And.Contain("| echo |"));
    }
}
