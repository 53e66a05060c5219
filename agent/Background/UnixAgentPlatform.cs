using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace GitHubActionsPort.Agent.Background;

[UnsupportedOSPlatform("windows")]
internal sealed class UnixAgentPlatform : AgentPlatform
{
    public override IReadOnlyList<PosixSignal> StopSignals { get; } = [PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGHUP];

    public override void RestrictToOwner(string directory) =>
        File.SetUnixFileMode(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

    // Redirected standard streams (done by the launcher) are all a Unix child needs to leave the step alone.
    public override void PrepareDetachedStart(ProcessStartInfo start)
    {
    }
}
