using GitHubActionsPort.Agent.Cli;

namespace GitHubActionsPort.Agent.Background;

/// <summary>
/// Where a background agent keeps what <c>ghaport down</c> and <c>ghaport status</c> need: its control socket, its
/// state and its log. Default: <c>$RUNNER_TEMP/ghaport</c> in GitHub Actions (cleaned with the job), else a folder
/// of the user's own under the temp folder. Readable by its owner only; and since the temp folder is shared and the
/// default name predictable, a folder that is already there is used only when it is a real folder (not a link),
/// this user's (on Linux, where the kernel says whose it is), and writable by nobody else: another user could
/// otherwise have made it first, to read the log or answer <c>ghaport down</c> in the agent's place.
/// </summary>
internal sealed class StateDirectory
{
    private StateDirectory(string path) => Path = path;

    public string Path { get; }

    public string ControlSocket => System.IO.Path.Combine(Path, "control.sock");

    public string StateFile => System.IO.Path.Combine(Path, "agent.json");

    public string LogFile => System.IO.Path.Combine(Path, "agent.log");

    /// <summary>The last status of an agent whose lease ended on its own (see <see cref="EndedState"/>).</summary>
    public string EndedFile => System.IO.Path.Combine(Path, "ended.json");

    /// <summary>The folder named, or the default; created (owner-only) if <paramref name="create"/>.</summary>
    public static StateDirectory Resolve(string? named, Func<string, string?> environment, bool create)
    {
        ArgumentNullException.ThrowIfNull(environment);
        var path = named is not null ? System.IO.Path.GetFullPath(named)
            : environment("RUNNER_TEMP") is { Length: > 0 } runnerTemp ? System.IO.Path.Combine(runnerTemp, "ghaport")
            : System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"ghaport-{Environment.UserName}");
        if (create)
        {
            if (OperatingSystem.IsWindows())
            {
                Directory.CreateDirectory(path);
            }
            else
            {
                // Made owner-only from the start: no moment in which another user could open it.
                Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
        }

        if (create || Directory.Exists(path))
        {
            RefuseIfNotPrivate(path);
        }

        if (create)
        {
            AgentPlatform.Current.RestrictToOwner(path);
        }

        return new StateDirectory(path);
    }

    /// <summary>
    /// Refuses a folder another user could have made or can change: a link, another user's (Linux), or group- or
    /// world-writable. On Windows the folder's ACL is replaced with an owner-only one on creation instead.
    /// </summary>
    private static void RefuseIfNotPrivate(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var info = new DirectoryInfo(path);
        if (info.LinkTarget is not null)
        {
            throw Refused(path, "is a symbolic link");
        }

        if (OperatingSystem.IsLinux())
        {
            var own = UnixFileStatus.EffectiveUserId;
            switch (UnixFileStatus.Read(path))
            {
                case null:
                    throw Refused(path, "cannot be examined");
                case { IsDirectory: false }:
                    throw Refused(path, "is not a folder");
                case { Owner: var owner } when owner != own:
                    throw Refused(path, $"belongs to uid {owner}, not to this user (uid {own})");
            }
        }

        if ((info.UnixFileMode & (UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) != 0)
        {
            throw Refused(path, "is writable by other users");
        }
    }

    private static AgentException Refused(string path, string why) =>
        new(ExitCodes.Failure, $"the state folder '{path}' {why}, so another user could have made it or can change it; remove it, or give --state-dir a folder of your own");
}
