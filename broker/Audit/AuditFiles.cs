namespace GitHubActionsPort.Broker.Audit;

/// <summary>The files of one trail: its rotated files (<c>audit.jsonl.20260101T120000123</c>), oldest first, then the current one.</summary>
public static class AuditFiles
{
    /// <summary>The rotated files of the trail at <paramref name="path"/>, oldest first (their names sort by age).</summary>
    public static IReadOnlyList<string> Rotated(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var full = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(full)!;
        return Directory.Exists(directory)
            // ".*" also matches the file itself (DOS wildcard rules), which comes last on its own.
            ? Directory.GetFiles(directory, Path.GetFileName(full) + ".*").Where(f => f != full).Order(StringComparer.Ordinal).ToList()
            : [];
    }
}
