using System.Globalization;

namespace GitHubActionsPort.Harness.Bench.Scenarios;

/// <summary>
/// What Linux's <c>/proc</c> says about a process: CPU time spent, resident memory, live children. Null wherever it
/// cannot tell (another OS, a process gone), so a scenario reports "not measured" rather than a wrong number.
/// </summary>
internal static class ProcStats
{
    // USER_HZ, the unit of /proc/PID/stat's times: 100 on every Linux architecture .NET runs on.
    private const double TicksPerSecond = 100;

    public static bool IsAvailable => OperatingSystem.IsLinux();

    /// <summary>
    /// User plus system CPU time of <paramref name="pids"/> together; with <paramref name="reapedChildren"/>, that of
    /// their children already waited for too (socat's per-connection processes). Null when any cannot be read.
    /// </summary>
    public static TimeSpan? CpuTime(IReadOnlyList<int> pids, bool reapedChildren)
    {
        ArgumentNullException.ThrowIfNull(pids);
        if (!IsAvailable || pids.Count == 0)
        {
            return null;
        }

        long ticks = 0;
        foreach (var pid in pids)
        {
            var fields = StatFields(pid);
            if (fields is null)
            {
                return null;
            }

            // After the ")" closing the command name: [0] state, ... [11] utime, [12] stime, [13] cutime, [14] cstime.
            ticks += long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
            if (reapedChildren)
            {
                ticks += long.Parse(fields[13], CultureInfo.InvariantCulture) + long.Parse(fields[14], CultureInfo.InvariantCulture);
            }
        }

        return TimeSpan.FromSeconds(ticks / TicksPerSecond);
    }

    /// <summary>Resident set size (<c>VmRSS</c>) in bytes; null when it cannot be read.</summary>
    public static long? ResidentBytes(int pid)
    {
        if (!IsAvailable)
        {
            return null;
        }

        try
        {
            var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
            var kib = line?["VmRSS:".Length..].Trim().Split(' ')[0];
            return kib is null ? null : long.Parse(kib, CultureInfo.InvariantCulture) * 1024;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>
    /// Waits until none of <paramref name="pids"/> has a child left, reaped ones included (a zombie is still listed),
    /// so that every finished connection's CPU time has reached the parent's counters. Gives up after
    /// <paramref name="timeout"/>: a reading a little short is better than a stalled bench.
    /// </summary>
    public static async Task WaitForChildrenReapedAsync(IReadOnlyList<int> pids, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(pids);
        if (!IsAvailable)
        {
            return;
        }

        var deadline = DateTime.UtcNow + timeout;
        // Polled: a child's exit and its reaping have no event another process can wait on.
        while (pids.Any(HasChildren) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(5, cancellationToken);
        }
    }

    private static bool HasChildren(int pid)
    {
        try
        {
            return !string.IsNullOrWhiteSpace(File.ReadAllText($"/proc/{pid}/task/{pid}/children"));
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static string[]? StatFields(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // The command name may hold spaces and parentheses; it ends at the last ")".
            return stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        }
        catch (IOException)
        {
            return null;
        }
    }
}
