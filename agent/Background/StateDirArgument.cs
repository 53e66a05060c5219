namespace GitHubActionsPort.Agent.Background;

/// <summary>The one flag <c>down</c> and <c>status</c> take: <c>--state-dir DIR</c>.</summary>
internal static class StateDirArgument
{
    public static string? Parse(IReadOnlyList<string> args, string command)
    {
        ArgumentNullException.ThrowIfNull(args);
        return args switch
        {
            [] => null,
            ["--state-dir", var directory] => directory,
            [var single] when single.StartsWith("--state-dir=", StringComparison.Ordinal) => single["--state-dir=".Length..],
            _ => throw new ArgumentException($"'ghaport {command}' takes only --state-dir DIR (got '{string.Join(' ', args)}')"),
        };
    }
}
