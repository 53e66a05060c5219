using System.Diagnostics;
using System.Runtime.InteropServices;

namespace GitHubActionsPort.TestSupport;

/// <summary>
/// The agent as users get it from a release: one self-contained file published with Native AOT for the machine the
/// tests run on, so tests can run it with no .NET at all. Published once per test run (a minute or two) into
/// <c>artifacts/test-publish/</c>, and shared by every test that asks; concurrent test processes take turns through
/// a lock file, so they never publish over each other.
/// </summary>
public static class PublishedAgent
{
    /// <summary>Native AOT on two cores takes about a minute and a half; leave room for a loaded machine.</summary>
    private static readonly TimeSpan PublishTimeout = TimeSpan.FromMinutes(8);

    private static readonly Lazy<Task<string>> Published = new(PublishAsync, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The runtime identifier of this machine, as the release names its binaries (linux-x64, osx-arm64, ...).</summary>
    public static string HostRuntimeIdentifier =>
        (OperatingSystem.IsWindows() ? "win" : OperatingSystem.IsMacOS() ? "osx" : "linux") + "-" +
        RuntimeInformation.OSArchitecture.ToString().ToLowerInvariant();

    /// <summary>The file name of the agent binary: <c>ghaport</c>, or <c>ghaport.exe</c> on Windows.</summary>
    public static string FileName => OperatingSystem.IsWindows() ? "ghaport.exe" : "ghaport";

    /// <summary>The full path of the published agent; publishes it on first use.</summary>
    public static Task<string> PathAsync() => Published.Value;

    /// <summary>The repository's root: the folder above the tests that holds the solution.</summary>
    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "GitHubActionsPort.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no GitHubActionsPort.sln above {AppContext.BaseDirectory}");
    }

    private static Task<string> PublishAsync() =>
        PublishAsync(Path.Combine(RepositoryRoot(), "artifacts", "test-publish", "agent-" + HostRuntimeIdentifier), ["-r", HostRuntimeIdentifier, "-p:PublishAot=true"]);

    /// <summary>
    /// Publishes the agent (Release) into <paramref name="output"/> with <paramref name="arguments"/> added to
    /// <c>dotnet publish</c> (a RID, the kind), under the same lock and bound, and returns the path of its program:
    /// <c>ghaport</c> / <c>ghaport.exe</c>, or <c>ghaport.dll</c> for a framework-dependent publish. The bench
    /// publishes the other kinds of agent this way to compare them.
    /// </summary>
    public static async Task<string> PublishAsync(string output, IReadOnlyList<string> arguments)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(arguments);
        var root = RepositoryRoot();
        Directory.CreateDirectory(Path.GetDirectoryName(output)!);

        // One publisher at a time across processes (a test run beside a bench, two test runs of one checkout).
        await using var held = await HoldLockAsync(output + ".lock").ConfigureAwait(false);
        var project = Path.Combine(root, "agent", "GitHubActionsPort.Agent.csproj");
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = root,
        };
        foreach (var arg in (string[])["publish", project, "-c", "Release", .. arguments, "--nologo", "-v", "q", "-o", output])
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("cannot start dotnet publish");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using (var timeout = new CancellationTokenSource(PublishTimeout))
        {
            try
            {
                await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"dotnet publish of the agent took more than {PublishTimeout.TotalMinutes} minutes");
            }
        }

        // Without a RID the publish is framework-dependent: its program is the dll that "dotnet" runs.
        var binary = Path.Combine(output, arguments.Contains("-r") ? FileName : "ghaport.dll");

        if (process.ExitCode != 0 || !File.Exists(binary))
        {
            throw new InvalidOperationException(
                $"dotnet publish {string.Join(' ', arguments)} of the agent exited with {process.ExitCode}:{Environment.NewLine}{await stdout.ConfigureAwait(false)}{await stderr.ConfigureAwait(false)}");
        }

        return binary;
    }

    /// <summary>An exclusive lock file, retried (bounded) while another process holds it.</summary>
    private static async Task<FileStream> HoldLockAsync(string path)
    {
        var deadline = DateTime.UtcNow + PublishTimeout;
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(250)).ConfigureAwait(false);
            }
        }
    }
}
