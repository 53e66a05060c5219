namespace GitHubActionsPort.Harness.Bench.Startup;

/// <summary>
/// One way to ship the agent: how it is published (the arguments to <c>dotnet publish</c> after the project) and
/// where. <see cref="Program"/> is the file to run, filled in once published; a framework-dependent agent's
/// program is its dll, run by <c>dotnet</c>.
/// </summary>
internal sealed record AgentKind(string Name, string Folder, IReadOnlyList<string> PublishArguments)
{
    public string Program { get; init; } = string.Empty;

    public bool FrameworkDependent => !PublishArguments.Contains("-r");
}
