using System.Diagnostics;
using System.Security.Cryptography;

namespace GitHubActionsPort.Tests;

/// <summary>
/// A temp folder laid out like a runner for the JavaScript action: a copy of the action (<c>agent/action.yml</c> and
/// <c>agent/action/</c>, so a test can give it its own <c>release.json</c> and checksums), a <c>bin</c> folder first
/// on PATH for fake commands, the runner's files (<c>GITHUB_STATE</c>, <c>GITHUB_PATH</c>, <c>GITHUB_OUTPUT</c>,
/// <c>GITHUB_STEP_SUMMARY</c>), a tool cache and a <c>RUNNER_TEMP</c>. Scripts run under Node 24 (<see cref="TestNode"/>).
/// </summary>
internal sealed class ActionSandbox : IDisposable
{
    /// <summary>The release asset of the agent for the machine the tests run on, as the action picks it.</summary>
    public static readonly string HostAsset = "ghaport-" + PublishedAgent.HostRuntimeIdentifier + (OperatingSystem.IsWindows() ? ".exe" : "");

    private static readonly string SourceAgentDirectory = Path.Combine(PublishedAgent.RepositoryRoot(), "agent");

    private readonly string _node;

    private ActionSandbox(string node, string root)
    {
        _node = node;
        Root = root;
        ActionDirectory = Path.Combine(root, "agent", "action");
        Bin = Directory.CreateDirectory(Path.Combine(root, "bin")).FullName;
        Home = Directory.CreateDirectory(Path.Combine(root, "home")).FullName;
        ToolCache = Directory.CreateDirectory(Path.Combine(root, "toolcache")).FullName;
        RunnerTemp = Directory.CreateDirectory(Path.Combine(root, "runner-temp")).FullName;
        Files = Directory.CreateDirectory(Path.Combine(root, "files")).FullName;
        foreach (var file in (string[])["state", "path", "output", "summary"])
        {
            File.WriteAllText(Path.Combine(root, file), "");
        }
    }

    public string Root { get; }

    /// <summary>The copy of <c>agent/action</c> the scripts run from.</summary>
    public string ActionDirectory { get; }

    /// <summary>First on PATH: fake commands go here.</summary>
    public string Bin { get; }

    public string Home { get; }

    /// <summary><c>RUNNER_TOOL_CACHE</c>.</summary>
    public string ToolCache { get; }

    /// <summary><c>RUNNER_TEMP</c>, where a detached agent keeps its state.</summary>
    public string RunnerTemp { get; }

    /// <summary>A folder for files a test serves or compares.</summary>
    public string Files { get; }

    public string OutputFile => Path.Combine(Root, "output");

    public string SummaryFile => Path.Combine(Root, "summary");

    /// <summary>Copies the action into a new temp folder; fails (under CI) or ignores the test when Node 24 is missing.</summary>
    public static ActionSandbox Create()
    {
        var node = TestNode.Require();
        var root = Directory.CreateTempSubdirectory("ghaport-action-").FullName;
        var agent = Directory.CreateDirectory(Path.Combine(root, "agent")).FullName;
        File.Copy(Path.Combine(SourceAgentDirectory, "action.yml"), Path.Combine(agent, "action.yml"));
        CopyDirectory(Path.Combine(SourceAgentDirectory, "action"), Path.Combine(agent, "action"));
        return new ActionSandbox(node, root);
    }

    /// <summary>Writes this copy's <c>release.json</c>: the version <c>version: ''</c> installs.</summary>
    public void SetRelease(string version, string repository = "acme/github-actions-port") =>
        File.WriteAllText(Path.Combine(ActionDirectory, "release.json"), $$"""{ "version": "{{version}}", "repository": "{{repository}}" }""");

    /// <summary>Writes <c>checksums/VERSION.sha256</c> (sha256sum format), one line per asset and its hash.</summary>
    public void WriteChecksums(string version, params (string Asset, string Sha256)[] lines)
    {
        var folder = Directory.CreateDirectory(Path.Combine(ActionDirectory, "checksums")).FullName;
        File.WriteAllText(Path.Combine(folder, version + ".sha256"), string.Concat(lines.OrderBy(l => l.Asset, StringComparer.Ordinal).Select(l => $"{l.Sha256}  {l.Asset}\n")));
    }

    /// <summary>Where the action caches a version for this machine: the tool cache's version/arch folder.</summary>
    public string CachedDirectory(string version) => Path.Combine(ToolCache, "ghaport", version, NodeArch);

    public string CachedBinary(string version) => Path.Combine(CachedDirectory(version), PublishedAgent.FileName);

    public static string Sha256Of(string file)
    {
        using var stream = File.OpenRead(file);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    /// <summary>
    /// Runs one script as the runner does, with only our fakes and the system's tools on PATH; a
    /// <c>preload</c> script, when given, is loaded first (<c>node -r</c>), e.g. to stand in for another platform.
    /// </summary>
    public async Task<(int ExitCode, string Output)> RunAsync(string script, IReadOnlyDictionary<string, string?> environment, string? preload = null)
    {
        var start = new ProcessStartInfo(_node)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Root,
        };
        if (preload is not null)
        {
            start.ArgumentList.Add("-r");
            start.ArgumentList.Add(preload);
        }

        start.ArgumentList.Add(Path.Combine(ActionDirectory, script));
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("INPUT_", StringComparison.Ordinal) || k.StartsWith("STATE_", StringComparison.Ordinal) || k.StartsWith("GITHUB_", StringComparison.Ordinal) || k.StartsWith("RUNNER_", StringComparison.Ordinal) || k.StartsWith("ACTIONS_", StringComparison.Ordinal) || k.StartsWith("NODE_", StringComparison.Ordinal) || k.EndsWith("_PROXY", StringComparison.OrdinalIgnoreCase) || k == "DOTNET_CLI_HOME").ToList())
        {
            start.Environment.Remove(name);
        }

        start.Environment["PATH"] = Bin + ":/usr/bin:/bin";
        start.Environment["HOME"] = Home;
        start.Environment["RECORD_DIR"] = Root;
        start.Environment["GITHUB_ACTIONS"] = "true";
        start.Environment["GITHUB_STATE"] = Path.Combine(Root, "state");
        start.Environment["GITHUB_PATH"] = Path.Combine(Root, "path");
        start.Environment["GITHUB_OUTPUT"] = OutputFile;
        start.Environment["GITHUB_STEP_SUMMARY"] = SummaryFile;
        start.Environment["RUNNER_TOOL_CACHE"] = ToolCache;
        start.Environment["RUNNER_TEMP"] = RunnerTemp;
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start)!;
        try
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync().WithTimeout(TimeSpan.FromSeconds(90));
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

    /// <summary>A fake <c>ghaport</c> at <paramref name="path"/> that records its arguments (one call a line) and exits with <paramref name="exitCode"/>.</summary>
    public static void WriteFakeGhaport(string path, int exitCode = 0) =>
        WriteScript(path, $"""
            #!/bin/sh
            echo "$*" >> "$RECORD_DIR/calls-ghaport"
            exit {exitCode}
            """);

    public static void WriteScript(string path, string text)
    {
        File.WriteAllText(path, text.ReplaceLineEndings("\n") + "\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    public string[] Calls(string command)
    {
        var file = Path.Combine(Root, "calls-" + command);
        return File.Exists(file) ? File.ReadAllLines(file) : [];
    }

    public string[] State() => File.ReadAllLines(Path.Combine(Root, "state"));

    public string[] PathLines() => File.ReadAllLines(Path.Combine(Root, "path"));

    public Dictionary<string, string> Outputs() =>
        File.ReadAllLines(OutputFile).Select(l => l.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1], StringComparer.Ordinal);

    public void Dispose() => Directory.Delete(Root, recursive: true);

    /// <summary>Node's <c>process.arch</c> for this machine: the tool cache's arch folder.</summary>
    private static string NodeArch => System.Runtime.InteropServices.RuntimeInformation.OSArchitecture switch
    {
        System.Runtime.InteropServices.Architecture.X64 => "x64",
        System.Runtime.InteropServices.Architecture.Arm64 => "arm64",
        var other => other.ToString().ToLowerInvariant(),
    };

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from))
        {
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        }

        foreach (var dir in Directory.EnumerateDirectories(from))
        {
            CopyDirectory(dir, Path.Combine(to, Path.GetFileName(dir)));
        }
    }
}
