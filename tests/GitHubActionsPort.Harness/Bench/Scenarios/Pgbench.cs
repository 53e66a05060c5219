using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;

namespace GitHubActionsPort.Harness.Bench.Scenarios;

/// <summary>
/// PostgreSQL's own load generator, <c>pgbench</c>, against the bench's PostgreSQL through a route: the
/// request/response pattern of a real database client, many small queries on a few long connections.
/// </summary>
internal sealed partial class Pgbench(string executable)
{
    private const string Database = "postgres";

    public string Executable { get; } = executable;

    /// <summary>pgbench beside PostgreSQL's server binaries, else on PATH; null when not installed.</summary>
    public static Pgbench? Find()
    {
        var candidates = new List<string>();
        if (PostgresServer.FindBinaries() is { } bin)
        {
            candidates.Add(Path.Combine(bin, "pgbench"));
        }

        candidates.AddRange((Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, "pgbench")));
        return candidates.FirstOrDefault(File.Exists) is { } found ? new Pgbench(found) : null;
    }

    /// <summary>Creates pgbench's tables at scale 1 (<c>pgbench -i</c>), straight to the server.</summary>
    public Task InitializeAsync(IPEndPoint server, CancellationToken cancellationToken) =>
        RunAsync(["-i", "-s", "1", "-q", .. Connection(server)], TimeSpan.FromMinutes(2), cancellationToken);

    /// <summary>Select-only transactions per second (<c>pgbench -S</c>), new connections' set-up excluded, as pgbench reports it.</summary>
    public async Task<double> SelectOnlyAsync(IPEndPoint endPoint, int clients, int threads, TimeSpan duration, CancellationToken cancellationToken)
    {
        var seconds = Math.Max(1, (int)duration.TotalSeconds);
        var output = await RunAsync(
            ["-S", "-n", "-c", Text(clients), "-j", Text(threads), "-T", Text(seconds), .. Connection(endPoint)],
            duration + TimeSpan.FromMinutes(1),
            cancellationToken);
        var match = TpsLine().Match(output);
        return match.Success
            ? double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture)
            : throw new InvalidDataException($"pgbench printed no tps line: {output}");
    }

    private static string[] Connection(IPEndPoint endPoint) =>
        ["-h", endPoint.Address.ToString(), "-p", Text(endPoint.Port), "-U", PostgresServer.User, Database];

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);

    private async Task<string> RunAsync(IReadOnlyList<string> args, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(Executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(),
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        // The server trusts loopback; a PGPASSWORD or PGSERVICE from the caller's shell must not get in the way.
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("PG", StringComparison.Ordinal)).ToList())
        {
            start.Environment.Remove(name);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var error = process.StandardError.ReadToEndAsync(cancellationToken);
        try
        {
            await process.WaitForExitAsync(cancellationToken).WaitAsync(timeout, cancellationToken);
        }
        catch
        {
            process.Kill();
            throw;
        }

        var text = await output + await error;
        return process.ExitCode == 0 ? text : throw new InvalidOperationException($"pgbench {string.Join(' ', args)} exited with {process.ExitCode}: {text.Trim()}");
    }

    // "tps = 12345.678901 (without initial connection time)"
    [GeneratedRegex(@"tps = ([0-9]+(?:\.[0-9]+)?) \(without initial connection time\)")]
    private static partial Regex TpsLine();
}
