namespace GitHubActionsPort.Agent.Background;

/// <summary>
/// Where a background agent keeps what <c>ghaport down</c> and <c>ghaport status</c> need: its control socket, its
/// state and its log. Default: <c>$RUNNER_TEMP/ghaport</c> in GitHub Actions (cleaned with the job), else a folder
/// of the user's own under the temp folder. Readable by its owner only.
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
            Directory.CreateDirectory(path);
            AgentPlatform.Current.RestrictToOwner(path);
        }

        return new StateDirectory(path);
    }
}
