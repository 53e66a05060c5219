using System.Globalization;

namespace GitHubActionsPort.TestSupport;

/// <summary>What a process holds in memory, as the kernel counts it (Linux <c>/proc</c>).</summary>
public static class ProcessMemory
{
    /// <summary>Whether <see cref="ResidentBytes"/> can be read here.</summary>
    public static bool IsSupported => OperatingSystem.IsLinux();

    /// <summary>The resident set size (<c>VmRSS</c> in <c>/proc/PID/status</c>) of process <paramref name="pid"/>, in bytes.</summary>
    public static long ResidentBytes(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/status"))
        {
            // "VmRSS:     123456 kB"
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return long.Parse(parts[1], CultureInfo.InvariantCulture) * 1024;
            }
        }

        throw new InvalidOperationException($"/proc/{pid}/status has no VmRSS line.");
    }
}
