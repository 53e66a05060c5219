using System.Globalization;
using GitHubActionsPort.Harness.Bench.Routes;

namespace GitHubActionsPort.Harness.Bench;

/// <summary>
/// Renders results as plain-text tables, numbers right-aligned, one row per scenario and one column per route: the
/// values, then each route over direct, then each ghaport route over the socat chain. A dash is a value not
/// measured (the route was skipped or failed, or the scenario does not apply to it).
/// </summary>
internal static class ResultTable
{
    private const string Missing = "-";

    public static void Write(BenchResults results, IReadOnlyList<RouteSpec> routes, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(results);
        ArgumentNullException.ThrowIfNull(routes);
        ArgumentNullException.ThrowIfNull(output);

        output.WriteLine("Measured:");
        WriteTable(results.Rows, routes, output, withUnit: true, (row, route) => row.Value(route) is { } value ? Number(value) : Missing);

        var versusDirect = routes.Where(r => r != RouteSpec.Direct).ToList();
        var directRows = results.Rows.Where(row => versusDirect.Any(r => row.Ratio(r, RouteSpec.Direct) is not null)).ToList();
        if (directRows.Count > 0)
        {
            output.WriteLine();
            output.WriteLine("Route / direct (same run; below 1 is slower for rates, above 1 is slower for times):");
            WriteTable(directRows, versusDirect, output, withUnit: false, (row, route) => Ratio(row.Ratio(route, RouteSpec.Direct)));
        }

        var versusSocat = routes.Where(r => r.IsGhaport).ToList();
        var socatRows = results.Rows.Where(row => versusSocat.Any(r => row.Ratio(r, RouteSpec.Socat) is not null)).ToList();
        if (socatRows.Count > 0)
        {
            output.WriteLine();
            output.WriteLine($"Route / {RouteSpec.Socat.Label} (the peer baseline: two plain relay hops):");
            WriteTable(socatRows, versusSocat, output, withUnit: false, (row, route) => Ratio(row.Ratio(route, RouteSpec.Socat)));
        }
    }

    /// <summary>A value as the tables print it: no decimals from 100 up, one below.</summary>
    public static string Number(double value) =>
        value.ToString(Math.Abs(value) >= 100 ? "N0" : Math.Abs(value) >= 1 ? "N1" : "N2", CultureInfo.InvariantCulture);

    private static string Ratio(double? ratio) => ratio is { } value ? value.ToString("0.000", CultureInfo.InvariantCulture) : Missing;

    private static void WriteTable(IReadOnlyList<BenchResult> rows, IReadOnlyList<RouteSpec> routes, TextWriter output, bool withUnit, Func<BenchResult, RouteSpec, string> cell)
    {
        var headers = new List<string> { "scenario" };
        if (withUnit)
        {
            headers.Add("unit");
        }

        headers.AddRange(routes.Select(r => r.Label));
        var textColumns = withUnit ? 2 : 1;
        var cells = rows.Select(row =>
        {
            var line = new List<string> { row.Scenario };
            if (withUnit)
            {
                line.Add(row.Unit);
            }

            line.AddRange(routes.Select(route => cell(row, route)));
            return line;
        }).ToList();
        var widths = headers.Select((h, column) => cells.Select(line => line[column].Length).Append(h.Length).Max()).ToArray();

        output.WriteLine(Format(headers, widths, textColumns));
        output.WriteLine(string.Join("  ", widths.Select(w => new string('-', w))));
        foreach (var line in cells)
        {
            output.WriteLine(Format(line, widths, textColumns));
        }
    }

    // Text columns align left, numbers right, so digits line up.
    private static string Format(IReadOnlyList<string> cells, int[] widths, int textColumns) =>
        string.Join("  ", cells.Select((cell, column) => column < textColumns ? cell.PadRight(widths[column]) : cell.PadLeft(widths[column]))).TrimEnd();
}
