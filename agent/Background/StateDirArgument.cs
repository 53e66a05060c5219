using System.CommandLine;

namespace GitHubActionsPort.Agent.Background;

/// <summary>The flag <c>down</c> and <c>status</c> share: <c>--state-dir DIR</c>.</summary>
internal static class StateDirArgument
{
    public static Option<string> Create() => new("--state-dir")
    {
        Description = "the background agent's state folder (default: $RUNNER_TEMP/ghaport in GitHub Actions, else the temp folder)",
        HelpName = "DIR",
    };

    /// <summary>The folder named, or null for the default; an empty value is refused.</summary>
    public static string? Read(ParseResult result, Option<string> option)
    {
        ArgumentNullException.ThrowIfNull(result);
        var directory = result.GetValue(option);
        return directory is not null && string.IsNullOrWhiteSpace(directory)
            ? throw new ArgumentException("--state-dir must not be empty")
            : directory;
    }
}
