using System.Globalization;

namespace GitHubActionsPort.Harness.Bench;

/// <summary>Renders results as a plain-text table, numbers right-aligned, one row per scenario.</summary>
internal static class ResultTable
{
    private static readonly string[] Headers = ["scenario", "unit", "direct", "tunnel", "tunnel/direct"];

    public static void Write(IReadOnlyList<BenchResult> results, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(results);
        ArgumentNullException.ThrowIfNull(output);
        var rows = results.Select(r => new[] { r.Scenario, r.Unit, Number(r.Direct), Number(r.Tunnel), r.Ratio.ToString("0.000", CultureInfo.InvariantCulture) }).ToList();
        var widths = Headers.Select((h, column) => rows.Select(row => row[column].Length).Append(h.Length).Max()).ToArray();

        output.WriteLine(Format(Headers, widths));
        output.WriteLine(string.Join("  ", widths.Select(w => new string('-', w))));
        foreach (var row in rows)
        {
            output.WriteLine(Format(row, widths));
        }
    }

    // Text columns align left, numbers right, so digits line up.
    private static string Format(IReadOnlyList<string> cells, int[] widths) =>
        string.Join("  ", cells.Select((cell, column) => column < 2 ? cell.PadRight(widths[column]) : cell.PadLeft(widths[column]))).TrimEnd();

    private static string Number(double value) =>
        value.ToString(value >= 100 ? "N0" : "N1", CultureInfo.InvariantCulture);
}
