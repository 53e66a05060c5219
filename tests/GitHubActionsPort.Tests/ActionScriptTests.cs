using System.Diagnostics;
using System.Text.RegularExpressions;

namespace GitHubActionsPort.Tests;

/// <summary>
/// The JavaScript action (<c>agent/action/main.js</c> and <c>post.js</c>) run by the real Node as the runner runs
/// it: inputs as <c>INPUT_*</c> variables, state through <c>GITHUB_STATE</c>, with fake <c>ghaport</c> and
/// <c>dotnet</c> commands (shell scripts) that record their arguments and exit with the code a test chooses.
/// </summary>
[Platform(Exclude = "Win", Reason = "the fake commands are shell scripts")]
public sealed partial class ActionScriptTests
{
    private static readonly string ActionDirectory = Path.Combine(FindRepositoryRoot(), "agent");

    private string _directory = null!;
    private string _bin = null!;
    private string _home = null!;
    private string _node = null!;

    [SetUp]
    public void CreateFakes()
    {
        _node = FindOnPath("node") ?? "";
        if (_node.Length == 0)
        {
            Assert.Ignore("node is not installed; the action's scripts need it");
        }

        _directory = Directory.CreateTempSubdirectory("ghaport-action-").FullName;
        _bin = Directory.CreateDirectory(Path.Combine(_directory, "bin")).FullName;
        _home = Directory.CreateDirectory(Path.Combine(_directory, "home")).FullName;
        File.WriteAllText(Path.Combine(_directory, "state"), "");
        File.WriteAllText(Path.Combine(_directory, "path"), "");
    }

    [TearDown]
    public void DeleteFakes()
    {
        if (_directory is not null)
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    [Test]
    public async Task Main_RunsUpDetached_WithEveryInput()
    {
        WriteFakeGhaport(_bin);

        var (exitCode, output) = await RunAsync("main.js", new()
        {
            ["INPUT_BROKER"] = "https://broker.example.com:8470",
            ["INPUT_FORWARDS"] = "5432:prod-db\n  6379:cache, [::1]:0:api\n",
            ["INPUT_AUDIENCE"] = "broker.example.com",
            ["INPUT_TTL"] = "30m",
            ["INPUT_TIMEOUT"] = "90s",
            ["INPUT_LANE"] = "grpc",
        });

        Assert.That(exitCode, Is.Zero, output);
        Assert.That(OnlyCall("ghaport"), Is.EqualTo(
            "up --broker https://broker.example.com:8470 --forward 5432:prod-db --forward 6379:cache --forward [::1]:0:api " +
            "--audience broker.example.com --ttl 00:30:00 --lane grpc --detach --timeout 00:01:30"));
        Assert.That(State(), Is.EqualTo((string[])["started=true", "ghaport=" + Path.Combine(_bin, "ghaport")]));
    }

    [Test]
    public async Task Main_EmptyOptionalInputs_LeaveAudienceAndTtlToGhaport_AndWaitOneMinute()
    {
        WriteFakeGhaport(_bin);

        var (exitCode, output) = await RunAsync("main.js", new() { ["INPUT_BROKER"] = "http://127.0.0.1:8470", ["INPUT_FORWARDS"] = "5432:db" });

        Assert.That(exitCode, Is.Zero, output);
        Assert.That(OnlyCall("ghaport"), Is.EqualTo("up --broker http://127.0.0.1:8470 --forward 5432:db --detach --timeout 00:01:00"));
    }

    [Test]
    public async Task Main_SeveralBrokers_OnLinesOrCommas_EachBecomesABrokerFlag_InOrder()
    {
        WriteFakeGhaport(_bin);

        var (exitCode, output) = await RunAsync("main.js", new()
        {
            ["INPUT_BROKER"] = "https://b1.example.com:8470\n  https://b2.example.com:8470, https://b3.example.com:8470\n",
            ["INPUT_FORWARDS"] = "5432:db",
        });

        Assert.That(exitCode, Is.Zero, output);
        Assert.That(OnlyCall("ghaport"), Is.EqualTo(
            "up --broker https://b1.example.com:8470 --broker https://b2.example.com:8470 --broker https://b3.example.com:8470 " +
            "--forward 5432:db --detach --timeout 00:01:00"));
    }

    [Test]
    public async Task Main_BrokerInputOfSeparatorsOnly_FailsNamingTheInput()
    {
        WriteFakeGhaport(_bin);
        var inputs = Inputs();
        inputs["INPUT_BROKER"] = " , \n ,";

        var (exitCode, output) = await RunAsync("main.js", inputs);

        Assert.That(exitCode, Is.EqualTo(1));
        Assert.That(output, Does.Contain("::error title=ghaport::input 'broker' names no broker"));
        Assert.That(Calls("ghaport"), Is.Empty);
    }

    [TestCase(3)]
    [TestCase(6)]
    public async Task Main_UpFails_StepFailsWithGhaportsExitCode(int code)
    {
        WriteFakeGhaport(_bin, exitCode: code);

        var (exitCode, output) = await RunAsync("main.js", Inputs());

        Assert.That(exitCode, Is.EqualTo(code), output);
        // The post step still runs `down`, in case anything was left behind.
        Assert.That(State(), Has.Member("started=true"));
    }

    [TestCase("INPUT_BROKER", "broker")]
    [TestCase("INPUT_FORWARDS", "forwards")]
    public async Task Main_MissingInput_FailsWithAnnotation_WithoutRunningGhaport(string variable, string input)
    {
        WriteFakeGhaport(_bin);
        var inputs = Inputs();
        inputs.Remove(variable);

        var (exitCode, output) = await RunAsync("main.js", inputs);

        Assert.That(exitCode, Is.EqualTo(1));
        Assert.That(output, Does.Contain($"::error title=ghaport::input '{input}' is required"));
        Assert.That(Calls("ghaport"), Is.Empty);
        Assert.That(State(), Is.Empty);
    }

    [TestCase("INPUT_TIMEOUT", "soon", "timeout")]
    [TestCase("INPUT_TTL", "0", "ttl")]
    [TestCase("INPUT_TTL", "30", "ttl")]
    [TestCase("INPUT_TIMEOUT", "90", "timeout")]
    [TestCase("INPUT_LANE", "fast", "lane")]
    public async Task Main_BadInput_FailsNamingTheInput(string variable, string value, string input)
    {
        WriteFakeGhaport(_bin);
        var inputs = Inputs();
        inputs[variable] = value;

        var (exitCode, output) = await RunAsync("main.js", inputs);

        Assert.That(exitCode, Is.EqualTo(1));
        Assert.That(output, Does.Contain($"::error title=ghaport::input '{input}' is '{value}'"));
        Assert.That(Calls("ghaport"), Is.Empty);
    }

    [Test]
    public async Task Main_GhaportNotOnPath_InstallsTheToolThenRunsIt()
    {
        WriteFakeDotnet(exitCode: 0);
        var inputs = Inputs();
        inputs["INPUT_VERSION"] = "0.1.0";

        var (exitCode, output) = await RunAsync("main.js", inputs);

        var tools = Path.Combine(_home, ".dotnet", "tools");
        Assert.That(exitCode, Is.Zero, output);
        Assert.That(OnlyCall("dotnet"), Is.EqualTo("tool install --global ghaport --version 0.1.0"));
        Assert.That(Calls("ghaport"), Has.Exactly(1).StartsWith("up "));
        Assert.That(File.ReadAllLines(Path.Combine(_directory, "path")), Is.EqualTo((string[])[tools]));
        Assert.That(State(), Has.Member("ghaport=" + Path.Combine(tools, "ghaport")));
    }

    [Test]
    public async Task Main_InstallFails_FailsTheStep_WithTheFix()
    {
        WriteFakeDotnet(exitCode: 1);

        var (exitCode, output) = await RunAsync("main.js", Inputs());

        Assert.That(exitCode, Is.EqualTo(1));
        Assert.That(output, Does.Contain("::error title=ghaport::'dotnet tool install --global ghaport --version 0.1.0' failed").And.Contain("setup-dotnet"));
        Assert.That(State(), Is.Empty);
    }

    [Test]
    public async Task Post_AfterStart_RunsDown()
    {
        WriteFakeGhaport(_bin);

        var (exitCode, output) = await RunAsync("post.js", new() { ["STATE_started"] = "true", ["STATE_ghaport"] = Path.Combine(_bin, "ghaport") });

        Assert.That(exitCode, Is.Zero, output);
        Assert.That(OnlyCall("ghaport"), Is.EqualTo("down"));
    }

    [Test]
    public async Task Post_DownFails_WarnsButNeverFailsTheJob()
    {
        WriteFakeGhaport(_bin, exitCode: 1);

        var (exitCode, output) = await RunAsync("post.js", new() { ["STATE_started"] = "true" });

        Assert.That(exitCode, Is.Zero, output);
        Assert.That(OnlyCall("ghaport"), Is.EqualTo("down"));
        Assert.That(output, Does.Contain("::warning title=ghaport::'ghaport down' exited with code 1"));
    }

    [Test]
    public async Task Post_GhaportMissing_WarnsButNeverFailsTheJob()
    {
        var (exitCode, output) = await RunAsync("post.js", new() { ["STATE_started"] = "true", ["STATE_ghaport"] = Path.Combine(_bin, "gone") });

        Assert.That(exitCode, Is.Zero, output);
        Assert.That(output, Does.Contain("::warning title=ghaport::cannot run"));
    }

    [Test]
    public async Task Post_NotStarted_DoesNothing()
    {
        WriteFakeGhaport(_bin);

        var (exitCode, output) = await RunAsync("post.js", []);

        Assert.That(exitCode, Is.Zero, output);
        Assert.That(Calls("ghaport"), Is.Empty);
    }

    [Test]
    public void ActionDefaultVersion_IsTheAgentsVersion()
    {
        var project = File.ReadAllText(Path.Combine(ActionDirectory, "GitHubActionsPort.Agent.csproj"));
        var action = File.ReadAllText(Path.Combine(ActionDirectory, "action.yml"));

        var version = ProjectVersion().Match(project).Groups[1].Value;
        Assert.That(version, Is.Not.Empty);
        Assert.That(ActionVersionDefault().Match(action).Groups[1].Value, Is.EqualTo(version));
    }

    private static Dictionary<string, string> Inputs() => new()
    {
        ["INPUT_BROKER"] = "https://broker.example.com:8470",
        ["INPUT_FORWARDS"] = "5432:prod-db",
        ["INPUT_AUDIENCE"] = "ghaport",
        ["INPUT_VERSION"] = "0.1.0",
        ["INPUT_TIMEOUT"] = "60s",
    };

    /// <summary>Runs one script as the runner does, with only our fakes and the system's tools on PATH.</summary>
    private async Task<(int ExitCode, string Output)> RunAsync(string script, Dictionary<string, string> environment)
    {
        var start = new ProcessStartInfo(_node)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = _directory,
        };
        start.ArgumentList.Add(Path.Combine(ActionDirectory, "action", script));
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("INPUT_", StringComparison.Ordinal) || k.StartsWith("STATE_", StringComparison.Ordinal) || k.StartsWith("GITHUB_", StringComparison.Ordinal) || k == "DOTNET_CLI_HOME").ToList())
        {
            start.Environment.Remove(name);
        }

        start.Environment["PATH"] = _bin + ":/usr/bin:/bin";
        start.Environment["HOME"] = _home;
        start.Environment["RECORD_DIR"] = _directory;
        start.Environment["GITHUB_ACTIONS"] = "true";
        start.Environment["GITHUB_STATE"] = Path.Combine(_directory, "state");
        start.Environment["GITHUB_PATH"] = Path.Combine(_directory, "path");
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start)!;
        try
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync().DefaultTimeout();
            return (process.ExitCode, await stdout.DefaultTimeout() + await stderr.DefaultTimeout());
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }

    /// <summary>A <c>ghaport</c> that records its arguments (one call a line) and exits with <paramref name="exitCode"/>.</summary>
    private static void WriteFakeGhaport(string directory, int exitCode = 0) =>
        WriteScript(Path.Combine(directory, "ghaport"), $"""
            #!/bin/sh
            echo "$*" >> "$RECORD_DIR/calls-ghaport"
            exit {exitCode}
            """);

    /// <summary>A <c>dotnet</c> whose <c>tool install --global</c> puts a fake ghaport where the real one would go.</summary>
    private void WriteFakeDotnet(int exitCode) =>
        WriteScript(Path.Combine(_bin, "dotnet"), $$"""
            #!/bin/sh
            echo "$*" >> "$RECORD_DIR/calls-dotnet"
            [ {{exitCode}} -eq 0 ] || exit {{exitCode}}
            mkdir -p "$HOME/.dotnet/tools"
            printf '#!/bin/sh\necho "$*" >> "$RECORD_DIR/calls-ghaport"\n' > "$HOME/.dotnet/tools/ghaport"
            chmod +x "$HOME/.dotnet/tools/ghaport"
            """);

    private static void WriteScript(string path, string text)
    {
        File.WriteAllText(path, text.ReplaceLineEndings("\n") + "\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    private string[] Calls(string command)
    {
        var file = Path.Combine(_directory, "calls-" + command);
        return File.Exists(file) ? File.ReadAllLines(file) : [];
    }

    /// <summary>The arguments of the one call <paramref name="command"/> was given.</summary>
    private string OnlyCall(string command)
    {
        var calls = Calls(command);
        Assert.That(calls, Has.Length.EqualTo(1), $"calls of {command}");
        return calls[0];
    }

    private string[] State() => File.ReadAllLines(Path.Combine(_directory, "state"));

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, name))
            .FirstOrDefault(File.Exists);

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "agent", "action.yml")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no agent/action.yml above {AppContext.BaseDirectory}");
    }

    [GeneratedRegex(@"<Version>([^<]+)</Version>")]
    private static partial Regex ProjectVersion();

    [GeneratedRegex(@"(?m)^  version:\n(?:    .*\n)*?    default: '([^']+)'")]
    private static partial Regex ActionVersionDefault();
}
