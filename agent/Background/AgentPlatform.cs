using System.Diagnostics;
using System.Runtime.InteropServices;

namespace GitHubActionsPort.Agent.Background;

/// <summary>
/// The few things a background agent does differently on Windows and on Unix (Linux, macOS runners): who may read
/// its state folder, which signals stop it, how a detached child is started. Everything else is shared.
/// </summary>
internal abstract class AgentPlatform
{
    public static AgentPlatform Current { get; } = OperatingSystem.IsWindows() ? new WindowsAgentPlatform() : new UnixAgentPlatform();

    /// <summary>Signals that stop the agent cleanly (tunnels closed, session closed at the broker).</summary>
    public abstract IReadOnlyList<PosixSignal> StopSignals { get; }

    /// <summary>Makes a folder readable and writable by the current user only: it holds the control socket and the log.</summary>
    public abstract void RestrictToOwner(string directory);

    /// <summary>Adjusts the start of a background agent so it holds no console or stream of the step that started it.</summary>
    public abstract void PrepareDetachedStart(ProcessStartInfo start);

    /// <summary>
    /// Asks a background agent to stop as a stop signal would (tunnels and lease closed on its way out); false when
    /// this platform cannot, and the caller must end it outright.
    /// </summary>
    public abstract Task<bool> RequestStopAsync(Process process);
}
