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

    // SIGTERM through kill(1), present on every Unix runner: .NET sends only SIGKILL itself.
    public override async Task<bool> RequestStopAsync(Process process)
    {
        ArgumentNullException.ThrowIfNull(process);
        try
        {
            using var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await kill.WaitForExitAsync(bound.Token).ConfigureAwait(false);
            return kill.ExitCode == 0;
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException or OperationCanceledException)
        {
            return false;
        }
    }
}
