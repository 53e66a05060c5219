using System.Diagnostics;

namespace GitHubActionsPort.Harness.LaneCost;

/// <summary>User plus system CPU time a process has used so far, read fresh from the OS each time.</summary>
internal static class ProcessCpu
{
    public static TimeSpan Of(int processId)
    {
        using var process = Process.GetProcessById(processId);
        return process.TotalProcessorTime;
    }
}
