using System.Text.RegularExpressions;

namespace GitHubActionsPort.Tests;

/// <summary>
/// The JavaScript action (<c>agent/action/main.js</c> and <c>post.js</c>) run by the real Node 24 as the runner runs
/// it: inputs as <c>INPUT_*</c> variables, state through <c>GITHUB_STATE</c>. Argument and state tests put a fake
/// <c>ghaport</c> (a shell script that records its arguments) on PATH, the "already installed" path; install tests
/// serve the release from a real HTTP server on loopback standing in for GitHub releases, with fake binaries
/// whose checksums a test writes into its own copy of the action.
/// </summary>
[Platform(Exclude = "Win", Reason = "the fake commands are shell scripts")]
public sealed partial class ActionScriptTests
{
    private const string TestVersion = "0.0.1-test";

    private ActionSandbox _sandbox = null!;
    private ReleaseServer _server = null!;
    private string _asset = null!;

    [SetUp]
    public async Task CreateSandboxAsync()
    {
        _sandbox = ActionSandbox.Create();
        _sandbox.SetRelease(TestVersion);
        _server = await ReleaseServer.StartAsync();

        // The "release binary": a fake ghaport that records its calls, served as this machine's asset.
        _asset = Path.Combine(_sandbox.Files, ActionSandbox.HostAsset);
        ActionSandbox.WriteFakeGhaport(_asset);
        _sandbox.WriteChecksums(TestVersion, (ActionSandbox.HostAsset, ActionSandbox.Sha256Of(_asset)), ("ghaport-other-os", new string('0', 64)));
    }

    [TearDown]
    public async Task DeleteSandboxAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        _sandbox?.Dispose();
    }

    [Test]
    public async Task Main_RunsUpDetached_WithEveryInput()
    {
        ActionSandbox.WriteFakeGhaport(Path.Combine(_sandbox.Bin, "ghaport"));

        var (exitCode, output) = await _sandbox.RunAsync("main.js", new Dictionary<string, string?>
        {
            ["INPUT_BROKER"] = "https://broker.example.com:8470",
            ["INPUT_FORWARDS"] = "5432:prod-db\n  6379:cache, [::1]:0:api\n",
            ["INPUT_AUDIENCE"] = "broker.example.com",
            ["INPUT_TTL"] = "30m",
            ["INPUT_TIMEOUT"] = "90s",
            ["INPUT_LANE"] = "grpc",
        });

        Assert.That(exitCode, Is.Zero, output);
        Assert.That(OnlyCall(), Is.EqualTo(
            "up --broker https://broker.example.com:8470 --forward 5432:prod-db --forward 6379:cache --forward [::1]:0:api " +
            "--audience broker.example.com --ttl 00:30:00 --lane grpc --detach --timeout 00:01:30"));
        Assert.That(_sandbox.State(), Is.EqualTo((string[])["started=true", "ghaport=" + Path.Combine(_sandbox.Bin, "ghaport")]));
    }

    [Test]
    public async Task Main_EmptyOptionalInputs_LeaveAudienceAndTtlToGhaport_AndWaitOneMinute()
    {
        ActionSandbox.WriteFakeGhaport(Path.Combine(_sandbox.Bin, "ghaport"));

        var (exitCode, output) = await _sandbox.RunAsync("main.js", new Dictionary<string, string?> { ["INPUT_BROKER"] = "http://127.0.0.1:8470", ["INPUT_FORWARDS"] = "5432:db" });

        Assert.That(exitCode, Is.Zero, output);
        Assert.That(OnlyCall(), Is.EqualTo("up --broker http://127.0.0.1:8470 --forward 5432:db --detach --timeout 00:01:00"));
    }

    [Test]
    public async Task Main_SeveralBrokers_OnLinesOrCommas_EachBecomesABrokerFlag_InOrder()
    {
        ActionSandbox.WriteFakeGhaport(Path.Combine(_sandbox.Bin, "ghaport"));

        var (exitCode, output) = await _sandbox.RunAsync("main.js", new Dictionary<string, string?>
        {
            ["INPUT_BROKER"] = "https://b1.example.com:8470\n  https://b2.example.com:8470, https://b3.example.com:8470\n",
            ["INPUT_FORWARDS"] = "5432:db",
        });

        Assert.That(exitCode, Is.Zero, output);
        Assert.That(OnlyCall(), Is.EqualTo(
            "up --broker https://b1.example.com:8470 --broker https://b2.example.com:8470 --broker https://b3.example.com:8470 " +
            "--forward 5432:db --detach --timeout 00:01:00"));
    }

    [Test]
    public async Task Main_BrokerInputOfSeparatorsOnly_FailsNamingTheInput()
    {
        ActionSandbox.WriteFakeGhaport(Path.Combine(_sandbox.Bin, "ghaport"));
        var inputs = Inputs();
        inputs["INPUT_BROKER"] = " , \n ,";

        var (exitCode, output) = await _sandbox.RunAsync("main.js", inputs);

        Assert.That(exitCode, Is.EqualTo(1));
        Assert.That(output, Does.Contain("::error title=ghaport::input 'broker' names no broker"));
        Assert.That(_sandbox.Calls("ghaport"), Is.Empty);
    }

    [TestCase(3)]
    [TestCase(6)]
    public async Task Main_UpFails_StepFailsWithGhaportsExitCode(int code)
    {
        ActionSandbox.WriteFakeGhaport(Path.Combine(_sandbox.Bin, "ghaport"), exitCode: code);

        var (exitCode, output) = await _sandbox.RunAsync("main.js", Inputs());

        Assert.That(exitCode, Is.EqualTo(code), output);
        // The post step still runs `down`, in case anything was left behind.
        Assert.That(_sandbox.State(), Has.Member("started=true"));
    }

    [TestCase("INPUT_BROKER", "broker")]
    [TestCase("INPUT_FORWARDS", "forwards")]
    public async Task Main_MissingInput_FailsWithAnnotation_WithoutRunningGhaport(string variable, string input)
    {
        ActionSandbox.WriteFakeGhaport(Path.Combine(_sandbox.Bin, "ghaport"));
        var inputs = Inputs();
        inputs.Remove(variable);

        var (exitCode, output) = await _sandbox.RunAsync("main.js", inputs);

        Assert.That(exitCode, Is.EqualTo(1));
        Assert.That(output, Does.Contain($"::error title=ghaport::input '{input}' is required"));
        Assert.That(_sandbox.Calls("ghaport"), Is.Empty);
        Assert.That(_sandbox.State(), Is.Empty);
    }

    [TestCase("INPUT_TIMEOUT", "soon", "timeout")]
    [TestCase("INPUT_TTL", "0", "ttl")]
    [TestCase("INPUT_TTL", "30", "ttl")]
    [TestCase("INPUT_TIMEOUT", "90", "timeout")]
    [TestCase("INPUT_LANE", "fast", "lane")]
    public async Task Main_BadInput_FailsNamingTheInput(string variable, string value, string input)
    {
        ActionSandbox.WriteFakeGhaport(Path.Combine(_sandbox.Bin, "ghaport"));
        var inputs = Inputs();
        inputs[variable] = value;

        var (exitCode, output) = await _sandbox.RunAsync("main.js", inputs);

        Assert.That(exitCode, Is.EqualTo(1));
        Assert.That(output, Does.Contain($"::error title=ghaport::input '{input}' is '{value}'"));
        Assert.That(_sandbox.Calls("ghaport"), Is.Empty);
    }

    [Test]
    public async Task Main_GhaportOnPath_IsUsedAsItIs_NothingDownloaded()
    {
        ActionSandbox.WriteFakeGhaport(Path.Combine(_sandbox.Bin, "ghaport"));
        _server.Serve($"/v{TestVersion}/{ActionSandbox.HostAsset}", _asset);

        var (exitCode, output) = await _sandbox.RunAsync("main.js", Inputs());

        Assert.That(exitCode, Is.Zero, output);
        Assert.That(output, Does.Contain($"Using {Path.Combine(_sandbox.Bin, "ghaport")}, found on PATH"));
        Assert.That(_server.Requests, Is.Empty);
        Assert.That(Directory.EnumerateFileSystemEntries(_sandbox.ToolCache), Is.Empty);
        Assert.That(_sandbox.PathLines(), Is.Empty);
    }

    [Test]
    public async Task Install_GoodAsset_IsVerifiedCachedAndRun_AndASecondRunDownloadsNothing()
    {
        var assetPath = $"/v{TestVersion}/{ActionSandbox.HostAsset}";
        _server.Serve(assetPath, _asset);

        var (exitCode, output) = await _sandbox.RunAsync("main.js", Inputs());

        Assert.That(exitCode, Is.Zero, output);
        Assert.That(_server.Requests, Is.EqualTo((string[])[assetPath]));
        var cached = _sandbox.CachedBinary(TestVersion);
        Assert.That(File.ReadAllBytes(cached), Is.EqualTo(File.ReadAllBytes(_asset)));
        if (!OperatingSystem.IsWindows())
        {
            Assert.That(File.GetUnixFileMode(cached), Is.EqualTo((UnixFileMode)0b111_101_101), "0755");
        }

        Assert.That(File.Exists(_sandbox.CachedDirectory(TestVersion) + ".complete"), "the tool cache's completion marker");
        Assert.That(Directory.EnumerateFiles(Path.GetDirectoryName(_sandbox.CachedDirectory(TestVersion))!), Is.EqualTo((string[])[_sandbox.CachedDirectory(TestVersion) + ".complete"]), "no temp file left behind");
        Assert.That(output, Does.Contain($"Verified SHA-256 {ActionSandbox.Sha256Of(_asset)}"));
        Assert.That(_sandbox.Calls("ghaport"), Has.Exactly(1).StartsWith("up --broker "), "the installed binary ran");
        Assert.That(_sandbox.PathLines(), Is.EqualTo((string[])[_sandbox.CachedDirectory(TestVersion)]), "later steps find ghaport on PATH");
        Assert.That(_sandbox.State(), Has.Member("ghaport=" + cached));

        // A second job on this runner (same tool cache): verified from the cache, no request at all.
        File.WriteAllText(Path.Combine(_sandbox.Root, "path"), "");
        var (again, againOutput) = await _sandbox.RunAsync("main.js", Inputs());

        Assert.That(again, Is.Zero, againOutput);
        Assert.That(_server.Requests, Has.Count.EqualTo(1), "the second run downloads nothing");
        Assert.That(againOutput, Does.Contain($"from the tool cache: {cached} (SHA-256 {ActionSandbox.Sha256Of(_asset)} verified)"));
        Assert.That(_sandbox.Calls("ghaport").Count(c => c.StartsWith("up ", StringComparison.Ordinal)), Is.EqualTo(2));
        Assert.That(_sandbox.PathLines(), Is.EqualTo((string[])[_sandbox.CachedDirectory(TestVersion)]));
    }

    [Test]
    public async Task Install_ChecksumMismatch_IsRefused_WithBothHashesAndTheUrl_NothingCached()
    {
        var swapped = Path.Combine(_sandbox.Files, "swapped");
        ActionSandbox.WriteScript(swapped, "#!/bin/sh\necho pwned >> \"$RECORD_DIR/calls-ghaport\"");
        var assetPath = $"/v{TestVersion}/{ActionSandbox.HostAsset}";
        _server.Serve(assetPath, swapped);

        var (exitCode, output) = await _sandbox.RunAsync("main.js", Inputs());

        Assert.That(exitCode, Is.EqualTo(1), output);
        Assert.That(output, Does.Contain($"::error title=ghaport::SHA-256 mismatch for {_server.Root}{assetPath}: expected {ActionSandbox.Sha256Of(_asset)}")
            .And.Contain($"actual {ActionSandbox.Sha256Of(swapped)}"));
        Assert.That(_sandbox.Calls("ghaport"), Is.Empty, "the swapped file never ran");
        Assert.That(Directory.EnumerateFiles(_sandbox.ToolCache, "*", SearchOption.AllDirectories), Is.Empty, "deleted, nothing cached");
        Assert.That(_sandbox.State(), Is.Empty);
        Assert.That(_sandbox.PathLines(), Is.Empty);
    }

    [Test]
    public async Task Install_404_SaysTheReleaseOrAssetIsNotThere_AndWhatToCheck()
    {
        var (exitCode, output) = await _sandbox.RunAsync("main.js", Inputs());

        Assert.That(exitCode, Is.EqualTo(1), output);
        Assert.That(output, Does.Contain($"::error title=ghaport::{_server.Root}/v{TestVersion}/{ActionSandbox.HostAsset} answered 404 Not Found: no such release or asset there")
            .And.Contain("'version'").And.Contain("'download-url'"));
        Assert.That(Directory.EnumerateFiles(_sandbox.ToolCache, "*", SearchOption.AllDirectories), Is.Empty);
    }

    [Test]
    public async Task Install_OtherHttpError_IsNamed()
    {
        _server.Fail($"/v{TestVersion}/{ActionSandbox.HostAsset}", 503);

        var (exitCode, output) = await _sandbox.RunAsync("main.js", Inputs());

        Assert.That(exitCode, Is.EqualTo(1), output);
        Assert.That(output, Does.Contain($"::error title=ghaport::downloading {_server.Root}/v{TestVersion}/{ActionSandbox.HostAsset} failed: HTTP 503 Service Unavailable"));
        Assert.That(Directory.EnumerateFiles(_sandbox.ToolCache, "*", SearchOption.AllDirectories), Is.Empty);
    }

    [Test]
    public async Task Install_RedirectLoop_IsNamed()
    {
        _server.Redirect($"/v{TestVersion}/{ActionSandbox.HostAsset}", "/loop");
        _server.Redirect("/loop", $"/v{TestVersion}/{ActionSandbox.HostAsset}");

        var (exitCode, output) = await _sandbox.RunAsync("main.js", Inputs());

        Assert.That(exitCode, Is.EqualTo(1), output);
        Assert.That(output, Does.Contain($"::error title=ghaport::cannot download {_server.Root}/v{TestVersion}/{ActionSandbox.HostAsset}: ").And.Contain("redirect"));
        Assert.That(Directory.EnumerateFiles(_sandbox.ToolCache, "*", SearchOption.AllDirectories), Is.Empty);
    }

    [Test]
    public async Task Install_AssetLargerThanAnyAgent_IsRefusedBeforeItIsRead()
    {
        // 300 MB announced (a sparse file: no disk used), past the action's 256 MiB cap.
        var huge = Path.Combine(_sandbox.Files, "huge");
        using (var file = File.Create(huge))
        {
            file.SetLength(300L * 1000 * 1000);
        }

        _server.Serve($"/v{TestVersion}/{ActionSandbox.HostAsset}", huge);

        var (exitCode, output) = await _sandbox.RunAsync("main.js", Inputs());

        Assert.That(exitCode, Is.EqualTo(1), output);
        Assert.That(output, Does.Contain($"::error title=ghaport::{_server.Root}/v{TestVersion}/{ActionSandbox.HostAsset} is 300000000 bytes, more than the 268435456 a ghaport binary can be; refused"));
        Assert.That(Directory.EnumerateFiles(_sandbox.ToolCache, "*", SearchOption.AllDirectories), Is.Empty);
    }

    [Test]
    public async Task Install_NothingListening_NamesTheNetworkError()
    {
        var inputs = Inputs();
        var closed = $"http://127.0.0.1:{SocketIo.ReleasedLoopbackPort()}";
        inputs["INPUT_DOWNLOAD-URL"] = closed;

        var (exitCode, output) = await _sandbox.RunAsync("main.js", inputs);

        Assert.That(exitCode, Is.EqualTo(1), output);
        Assert.That(output, Does.Contain($"::error title=ghaport::cannot download {closed}/v{TestVersion}/{ActionSandbox.HostAsset}: ECONNREFUSED"));
    }

    [TestCase("freebsd", "x64")]
    [TestCase("linux", "ia32")]
    [TestCase("darwin", "x64")]
    [TestCase("win32", "arm64")]
    public async Task Install_UnknownPlatform_NamesItAndTheAssetsThatExist(string platform, string arch)
    {
        var preload = Path.Combine(_sandbox.Files, "platform.js");
        File.WriteAllText(preload, $"""
            Object.defineProperty(process, 'platform', {"{"} value: '{platform}' {"}"});
            Object.defineProperty(process, 'arch', {"{"} value: '{arch}' {"}"});
            """);

        var (exitCode, output) = await _sandbox.RunAsync("main.js", Inputs(), preload);

        Assert.That(exitCode, Is.EqualTo(1), output);
        Assert.That(output, Does.Contain($"::error title=ghaport::no ghaport release binary for this runner's OS and architecture, {platform} {arch}; ")
            .And.Contain("linux x64 (ghaport-linux-x64), linux arm64 (ghaport-linux-arm64), darwin arm64 (ghaport-osx-arm64), win32 x64 (ghaport-win-x64.exe)"));
        Assert.That(_server.Requests, Is.Empty);
    }

    [Test]
    public async Task Install_Redirect_IsFollowed_AsGitHubReleasesAnswer()
    {
        var assetPath = $"/v{TestVersion}/{ActionSandbox.HostAsset}";
        _server.Redirect(assetPath, "/storage/objects/1234?signature=abc");
        _server.Serve("/storage/objects/1234", _asset);

        var (exitCode, output) = await _sandbox.RunAsync("main.js", Inputs());

        Assert.That(exitCode, Is.Zero, output);
        Assert.That(_server.Requests, Is.EqualTo((string[])[assetPath, "/storage/objects/1234"]));
        Assert.That(ActionSandbox.Sha256Of(_sandbox.CachedBinary(TestVersion)), Is.EqualTo(ActionSandbox.Sha256Of(_asset)));
        Assert.That(_sandbox.Calls("ghaport"), Has.Exactly(1).StartsWith("up "));
    }

    [Test]
    public async Task Install_FromAMirror_DownloadsThere_AndStillVerifies()
    {
        var inputs = Inputs();
        inputs["INPUT_DOWNLOAD-URL"] = _server.Root + "/mirror/ghaport/";
        var mirrored = $"/mirror/ghaport/v{TestVersion}/{ActionSandbox.HostAsset}";
        var swapped = Path.Combine(_sandbox.Files, "swapped");
        File.WriteAllText(swapped, "not the release");
        _server.Serve(mirrored, swapped);

        var (refused, refusedOutput) = await _sandbox.RunAsync("main.js", inputs);

        Assert.That(refused, Is.EqualTo(1), refusedOutput);
        Assert.That(refusedOutput, Does.Contain($"::error title=ghaport::SHA-256 mismatch for {_server.Root}{mirrored}: expected {ActionSandbox.Sha256Of(_asset)}"));
        Assert.That(Directory.EnumerateFiles(_sandbox.ToolCache, "*", SearchOption.AllDirectories), Is.Empty);

        _server.Serve(mirrored, _asset);
        var (exitCode, output) = await _sandbox.RunAsync("main.js", inputs);

        Assert.That(exitCode, Is.Zero, output);
        Assert.That(output, Does.Contain($"from {_server.Root}{mirrored}"));
        Assert.That(_server.Requests, Is.EqualTo((string[])[mirrored, mirrored]), "the mirror only, nothing from anywhere else");
        Assert.That(_sandbox.Calls("ghaport"), Has.Exactly(1).StartsWith("up "));
    }

    [TestCase("octo-org/port", "octo-org/port")]
    [TestCase(null, "acme/github-actions-port")]
    public async Task Install_NoDownloadUrl_FetchesFromGitHubReleasesOfTheActionsRepository_ThroughTheRunnersProxy(string? actionRepository, string expected)
    {
        // The runner's HTTPS proxy (Node honours it with NODE_USE_ENV_PROXY=1): sees the CONNECT, refuses it.
        using var proxy = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        proxy.Start();
        var connect = RefuseOneConnectAsync(proxy);
        var inputs = Inputs();
        inputs["INPUT_DOWNLOAD-URL"] = "";
        inputs["GITHUB_ACTION_REPOSITORY"] = actionRepository;
        inputs["NODE_USE_ENV_PROXY"] = "1";
        inputs["HTTPS_PROXY"] = $"http://{proxy.LocalEndpoint}";

        var (exitCode, output) = await _sandbox.RunAsync("main.js", inputs);

        var url = $"https://github.com/{expected}/releases/download/v{TestVersion}/{ActionSandbox.HostAsset}";
        Assert.That(exitCode, Is.EqualTo(1), output);
        Assert.That(output, Does.Contain($"Downloading ghaport {TestVersion} for ").And.Contain($" from {url}\n"));
        Assert.That(output, Does.Contain($"::error title=ghaport::cannot download {url}"));
        Assert.That(await connect.DefaultTimeout(), Is.EqualTo("CONNECT github.com:443 HTTP/1.1"));
    }

    [TestCase("ftp://mirror.example.com/ghaport", "expected an http or https URL")]
    [TestCase("https://user:secret@mirror.example.com/ghaport", "holds a user name or password")]
    [TestCase("https://mirror.example.com/ghaport?x=1", "takes no query or fragment")]
    public async Task Install_BadDownloadUrl_IsRefusedNamingTheInput(string url, string why)
    {
        var inputs = Inputs();
        inputs["INPUT_DOWNLOAD-URL"] = url;

        var (exitCode, output) = await _sandbox.RunAsync("main.js", inputs);

        Assert.That(exitCode, Is.EqualTo(1), output);
        Assert.That(output, Does.Contain("::error title=ghaport::input 'download-url' ").And.Contain(why));
        Assert.That(output, Does.Not.Contain("secret"), "credentials never reach the log");
    }

    [Test]
    public async Task Install_VersionUnknownToThisCopyOfTheAction_IsRefused_WithoutARequest()
    {
        _server.Serve($"/v0.0.2/{ActionSandbox.HostAsset}", _asset);
        var inputs = Inputs();
        inputs["INPUT_VERSION"] = "0.0.2";

        var (exitCode, output) = await _sandbox.RunAsync("main.js", inputs);

        Assert.That(exitCode, Is.EqualTo(1), output);
        Assert.That(output, Does.Contain("::error title=ghaport::this copy of the action has no checksums for ghaport 0.0.2 (no checksums/0.0.2.sha256)")
            .And.Contain("pin a newer commit of the action, or set 'version' to one it knows (").And.Contain(TestVersion));
        Assert.That(_server.Requests, Is.Empty);
        Assert.That(_sandbox.Calls("ghaport"), Is.Empty);
    }

    [Test]
    public async Task Install_VersionInputWithALeadingV_IsTheSameRelease()
    {
        var assetPath = $"/v{TestVersion}/{ActionSandbox.HostAsset}";
        _server.Serve(assetPath, _asset);
        var inputs = Inputs();
        inputs["INPUT_VERSION"] = "v" + TestVersion;

        var (exitCode, output) = await _sandbox.RunAsync("main.js", inputs);

        Assert.That(exitCode, Is.Zero, output);
        Assert.That(_server.Requests, Is.EqualTo((string[])[assetPath]));
    }

    [TestCase("../../etc")]
    [TestCase("latest")]
    public async Task Install_VersionThatIsNotAVersion_IsRefused(string version)
    {
        var inputs = Inputs();
        inputs["INPUT_VERSION"] = version;

        var (exitCode, output) = await _sandbox.RunAsync("main.js", inputs);

        Assert.That(exitCode, Is.EqualTo(1), output);
        Assert.That(output, Does.Contain($"::error title=ghaport::input 'version' is '{version}'; expected a release version such as 0.2.0"));
        Assert.That(_server.Requests, Is.Empty);
    }

    [Test]
    public async Task Install_ChecksumsWithoutThisMachinesAsset_AreRefused()
    {
        _sandbox.WriteChecksums(TestVersion, ("ghaport-other-os", new string('0', 64)));
        _server.Serve($"/v{TestVersion}/{ActionSandbox.HostAsset}", _asset);

        var (exitCode, output) = await _sandbox.RunAsync("main.js", Inputs());

        Assert.That(exitCode, Is.EqualTo(1), output);
        Assert.That(output, Does.Contain($"::error title=ghaport::checksums/{TestVersion}.sha256 of this action lists no {ActionSandbox.HostAsset}"));
        Assert.That(_server.Requests, Is.Empty);
    }

    [Test]
    public async Task Install_TamperedToolCache_IsRefused_NotRun()
    {
        _server.Serve($"/v{TestVersion}/{ActionSandbox.HostAsset}", _asset);
        var (first, firstOutput) = await _sandbox.RunAsync("main.js", Inputs());
        Assert.That(first, Is.Zero, firstOutput);
        var cached = _sandbox.CachedBinary(TestVersion);
        ActionSandbox.WriteScript(cached, "#!/bin/sh\necho pwned >> \"$RECORD_DIR/calls-ghaport\"");

        var (exitCode, output) = await _sandbox.RunAsync("main.js", Inputs());

        Assert.That(exitCode, Is.EqualTo(1), output);
        Assert.That(output, Does.Contain($"::error title=ghaport::the cached {cached} does not match its checksum (SHA-256 expected {ActionSandbox.Sha256Of(_asset)}, actual {ActionSandbox.Sha256Of(cached)})"));
        Assert.That(_sandbox.Calls("ghaport"), Has.None.EqualTo("pwned"));
        Assert.That(_server.Requests, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task Install_ThenPost_RunsDownWithTheInstalledBinary()
    {
        _server.Serve($"/v{TestVersion}/{ActionSandbox.HostAsset}", _asset);
        var (exitCode, output) = await _sandbox.RunAsync("main.js", Inputs());
        Assert.That(exitCode, Is.Zero, output);

        // The runner hands the main step's state to the post step as STATE_*; PATH is the job's, without the tool cache.
        var state = _sandbox.State().Select(l => l.Split('=', 2)).ToDictionary(p => "STATE_" + p[0], p => (string?)p[1]);
        var (postCode, postOutput) = await _sandbox.RunAsync("post.js", state);

        Assert.That(postCode, Is.Zero, postOutput);
        Assert.That(state["STATE_ghaport"], Is.EqualTo(_sandbox.CachedBinary(TestVersion)));
        Assert.That(_sandbox.Calls("ghaport"), Is.EqualTo((string[])[_sandbox.Calls("ghaport")[0], "down"]));
    }

    [Test]
    public async Task Post_AfterStart_RunsDown()
    {
        ActionSandbox.WriteFakeGhaport(Path.Combine(_sandbox.Bin, "ghaport"));

        var (exitCode, output) = await _sandbox.RunAsync("post.js", new Dictionary<string, string?> { ["STATE_started"] = "true", ["STATE_ghaport"] = Path.Combine(_sandbox.Bin, "ghaport") });

        Assert.That(exitCode, Is.Zero, output);
        Assert.That(OnlyCall(), Is.EqualTo("down"));
    }

    [Test]
    public async Task Post_DownFails_WarnsButNeverFailsTheJob()
    {
        ActionSandbox.WriteFakeGhaport(Path.Combine(_sandbox.Bin, "ghaport"), exitCode: 1);

        var (exitCode, output) = await _sandbox.RunAsync("post.js", new Dictionary<string, string?> { ["STATE_started"] = "true" });

        Assert.That(exitCode, Is.Zero, output);
        Assert.That(OnlyCall(), Is.EqualTo("down"));
        Assert.That(output, Does.Contain("::warning title=ghaport::'ghaport down' exited with code 1"));
    }

    [Test]
    public async Task Post_GhaportMissing_WarnsButNeverFailsTheJob()
    {
        var (exitCode, output) = await _sandbox.RunAsync("post.js", new Dictionary<string, string?> { ["STATE_started"] = "true", ["STATE_ghaport"] = Path.Combine(_sandbox.Bin, "gone") });

        Assert.That(exitCode, Is.Zero, output);
        Assert.That(output, Does.Contain("::warning title=ghaport::cannot run"));
    }

    [Test]
    public async Task Post_NotStarted_DoesNothing()
    {
        ActionSandbox.WriteFakeGhaport(Path.Combine(_sandbox.Bin, "ghaport"));

        var (exitCode, output) = await _sandbox.RunAsync("post.js", new Dictionary<string, string?>());

        Assert.That(exitCode, Is.Zero, output);
        Assert.That(_sandbox.Calls("ghaport"), Is.Empty);
    }

    [Test]
    public void ActionRelease_IsTheProductsVersion_AndTheActionRunsOnNode24()
    {
        var root = PublishedAgent.RepositoryRoot();
        // The one place the version lives; before it moved there, the agent's project.
        var version = ProjectVersion().Match(File.ReadAllText(Path.Combine(root, "Directory.Build.props"))).Groups[1].Value;
        if (version.Length == 0)
        {
            version = ProjectVersion().Match(File.ReadAllText(Path.Combine(root, "agent", "GitHubActionsPort.Agent.csproj"))).Groups[1].Value;
        }

        using var release = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(root, "agent", "action", "release.json")));
        var action = File.ReadAllText(Path.Combine(root, "agent", "action.yml"));

        Assert.That(version, Is.Not.Empty);
        Assert.That(release.RootElement.GetProperty("version").GetString(), Is.EqualTo(version));
        Assert.That(release.RootElement.GetProperty("repository").GetString(), Does.Match("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"));
        Assert.That(action, Does.Contain("\n  using: node24\n"));
        Assert.That(action, Does.Not.Contain("dotnet tool install"), "no silent .NET tool path");
    }

    /// <summary>The inputs as the runner passes them, with action.yml's defaults; releases come from the test's server.</summary>
    private Dictionary<string, string?> Inputs() => new()
    {
        ["INPUT_BROKER"] = "https://broker.example.com:8470",
        ["INPUT_FORWARDS"] = "5432:prod-db",
        ["INPUT_AUDIENCE"] = "ghaport",
        ["INPUT_VERSION"] = "",
        ["INPUT_DOWNLOAD-URL"] = _server.Root,
        ["INPUT_TIMEOUT"] = "60s",
    };

    /// <summary>Accepts one connection, returns its request line and answers 403, as a proxy that refuses the host.</summary>
    private static async Task<string> RefuseOneConnectAsync(System.Net.Sockets.TcpListener proxy)
    {
        using var client = await proxy.AcceptTcpClientAsync();
        var stream = client.GetStream();
        using var reader = new StreamReader(stream, leaveOpen: true);
        var requestLine = await reader.ReadLineAsync() ?? "";
        await stream.WriteAsync("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"u8.ToArray());
        return requestLine;
    }

    /// <summary>The arguments of the one call the fake <c>ghaport</c> was given.</summary>
    private string OnlyCall()
    {
        var calls = _sandbox.Calls("ghaport");
        Assert.That(calls, Has.Length.EqualTo(1), "calls of ghaport");
        return calls[0];
    }

    [GeneratedRegex(@"<Version>([^<]+)</Version>")]
    private static partial Regex ProjectVersion();
}
