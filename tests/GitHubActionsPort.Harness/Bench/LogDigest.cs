using System.Text.RegularExpressions;

namespace GitHubActionsPort.Harness.Bench;

/// <summary>
/// Folds log lines that differ only in their numbers (timestamps, ports, connection ids) into one, with a count:
/// a thousand refused tunnels are one finding, not a thousand.
/// </summary>
internal static partial class LogDigest
{
    public static IReadOnlyList<string> Fold(IEnumerable<string> lines)
    {
        ArgumentNullException.ThrowIfNull(lines);
        return lines
            .Select(line => ConsoleTimestamp().Replace(line, string.Empty))
            .GroupBy(line => Digits().Replace(line, "#"), StringComparer.Ordinal)
            .Select(group => group.Count() == 1 ? group.First() : $"{group.First()} (and {group.Count() - 1:N0} more like it)")
            .ToList();
    }

    // The console logger's "HH:mm:ss.fff " before the level, as the broker and agent write it.
    [GeneratedRegex(@"(?<=: |^)\d{2}:\d{2}:\d{2}\.\d{3} ")]
    private static partial Regex ConsoleTimestamp();

    [GeneratedRegex(@"\d+")]
    private static partial Regex Digits();
}
