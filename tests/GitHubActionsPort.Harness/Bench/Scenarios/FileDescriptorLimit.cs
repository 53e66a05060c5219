using System.Diagnostics;
using System.Globalization;

namespace GitHubActionsPort.Harness.Bench.Scenarios;

/// <summary>
/// The open-file limit, which the idle-tunnel scenario needs far above the usual: the harness holds a client socket
/// and the target's socket per tunnel, the agent and the broker two each. Raised on the harness itself before
/// anything is started, so the agent, broker and socat processes inherit it (.NET lifts its soft limit to the hard
/// one at start-up).
/// </summary>
internal static class FileDescriptorLimit
{
    public const long Wanted = 262_144;

    /// <summary>This process's soft limit on open files; null when unknown (not Linux).</summary>
    public static long? Current()
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        // "Max open files            1024                 524288               files"
        var line = File.ReadLines("/proc/self/limits").FirstOrDefault(l => l.StartsWith("Max open files", StringComparison.Ordinal));
        var soft = line?["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries)[0];
        return soft switch
        {
            null => null,
            "unlimited" => long.MaxValue,
            _ => long.Parse(soft, CultureInfo.InvariantCulture),
        };
    }

    /// <summary>
    /// Raises soft and hard limit to <see cref="Wanted"/> with <c>prlimit</c> (root may raise a hard limit); returns
    /// why it could not, or null when the limit is now high enough.
    /// </summary>
    public static async Task<string?> TryRaiseAsync()
    {
        if (Current() is not { } current || current >= Wanted)
        {
            return null;
        }

        var start = new ProcessStartInfo("prlimit")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("--pid");
        start.ArgumentList.Add(Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        start.ArgumentList.Add($"--nofile={Wanted}:{Wanted}");
        try
        {
            using var prlimit = Process.Start(start)!;
            var error = await prlimit.StandardError.ReadToEndAsync();
            await prlimit.WaitForExitAsync().DefaultTimeout();
            return prlimit.ExitCode == 0 ? null : $"prlimit --nofile={Wanted}:{Wanted} failed ({error.Trim()}); the open-file limit stays {current:N0}";
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return $"prlimit could not run ({ex.Message}); the open-file limit stays {current:N0}";
        }
    }
}
