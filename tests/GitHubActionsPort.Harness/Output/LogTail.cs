namespace GitHubActionsPort.Harness.Output;

/// <summary>
/// Shows what a component logged since the last look, under a prefix. The demo prints these between its steps
/// rather than live, so a component's log never tears through a line of the narrative.
/// </summary>
/// <param name="prefix">Who logged it, e.g. <c>broker</c>.</param>
/// <param name="lines">All lines logged so far, oldest first; it only ever grows.</param>
internal sealed class LogTail(string prefix, Func<IReadOnlyList<string>> lines)
{
    private int _shown;

    public void ShowNew(Narrator narrator)
    {
        ArgumentNullException.ThrowIfNull(narrator);
        var all = lines();
        for (; _shown < all.Count; _shown++)
        {
            narrator.Detail($"{prefix} | {all[_shown]}");
        }
    }

    /// <summary>The broker's log as the demo shows it: its own records from Information up, anyone's warnings.</summary>
    public static LogTail ForBroker(BrokerUnderTest broker)
    {
        ArgumentNullException.ThrowIfNull(broker);
        return new LogTail("broker", () => broker.Logs.Entries
            .Where(e => e.Level >= LogLevel.Warning || (e.Level >= LogLevel.Information && e.Category.StartsWith("GitHubActionsPort.", StringComparison.Ordinal)))
            .Select(e => $"{ShortLevel(e.Level)}: {e.Message}")
            .ToList());
    }

    /// <summary>The agent process's standard error: its log lines and, when it fails, its one-line reason.</summary>
    public static LogTail ForAgent(AgentProcess agent)
    {
        ArgumentNullException.ThrowIfNull(agent);
        return new LogTail("agent ", () => agent.Error.Lines);
    }

    // The same short names the console logger uses, so broker and agent lines read alike.
    private static string ShortLevel(LogLevel level) => level switch
    {
        LogLevel.Trace => "trce",
        LogLevel.Debug => "dbug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warn",
        LogLevel.Error => "fail",
        _ => "crit",
    };
}
