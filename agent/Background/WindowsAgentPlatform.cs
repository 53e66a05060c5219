using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using System.Security.AccessControl;
using System.Security.Principal;

namespace GitHubActionsPort.Agent.Background;

[SupportedOSPlatform("windows")]
internal sealed class WindowsAgentPlatform : AgentPlatform
{
    /// <summary>Ctrl-C, Ctrl-Break, console close and shutdown, as .NET maps them on Windows.</summary>
    public override IReadOnlyList<PosixSignal> StopSignals { get; } = [PosixSignal.SIGINT, PosixSignal.SIGQUIT, PosixSignal.SIGHUP, PosixSignal.SIGTERM];

    public override void RestrictToOwner(string directory)
    {
        // Only the current user, and no rights inherited from the parent folder (the runner's temp folder may be shared).
        var security = new DirectorySecurity();
        security.SetAccessRuleProtection(isProtected: true, preserveInheritance: false);
        security.AddAccessRule(new FileSystemAccessRule(
            WindowsIdentity.GetCurrent().User!,
            FileSystemRights.FullControl,
            InheritanceFlags.ContainerInherit | InheritanceFlags.ObjectInherit,
            PropagationFlags.None,
            AccessControlType.Allow));
        new DirectoryInfo(directory).SetAccessControl(security);
    }

    // No console window of its own, so closing the step's console does not close the agent.
    public override void PrepareDetachedStart(ProcessStartInfo start) => start.CreateNoWindow = true;

    // A process without a console of its own cannot be sent Ctrl-C from another: it is ended outright, and a lease it
    // held lapses at its expiry.
    public override Task<bool> RequestStopAsync(Process process) => Task.FromResult(false);
}
