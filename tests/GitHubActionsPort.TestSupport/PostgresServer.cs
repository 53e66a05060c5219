using System.Diagnostics;

namespace GitHubActionsPort.TestSupport;

/// <summary>
/// A throwaway PostgreSQL cluster in a temp folder, listening on 127.0.0.1 only. PostgreSQL refuses to run as
/// root, so under root (as in CI) the cluster is owned and run by the unprivileged <c>postgres</c> user.
/// </summary>
public sealed class PostgresServer : IAsyncDisposable
{
    private readonly string _binDirectory;
    private readonly string _root;
    private readonly bool _asPostgresUser;

    private PostgresServer(string binDirectory, string root, bool asPostgresUser, int port)
    {
        _binDirectory = binDirectory;
        _root = root;
        _asPostgresUser = asPostgresUser;
        Port = port;
    }

    public int Port { get; }

    /// <summary>The value for <c>Broker:Targets:NAME</c>.</summary>
    public string Address => $"127.0.0.1:{Port}";

    public const string User = "postgres";

    /// <summary>Where <c>initdb</c>, <c>pg_ctl</c> and <c>postgres</c> are, or null when PostgreSQL is not installed.</summary>
    public static string? FindBinaries()
    {
        var candidates = (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Concat(Directory.Exists("/usr/lib/postgresql")
                ? Directory.GetDirectories("/usr/lib/postgresql").OrderDescending(StringComparer.Ordinal).Select(d => Path.Combine(d, "bin"))
                : []);
        return candidates.FirstOrDefault(dir => File.Exists(Path.Combine(dir, "initdb")) && File.Exists(Path.Combine(dir, "pg_ctl")) && File.Exists(Path.Combine(dir, "postgres")));
    }

    /// <summary>Starts a cluster; null when PostgreSQL is not installed (the caller reports a skip).</summary>
    public static async Task<PostgresServer?> StartAsync()
    {
        var bin = FindBinaries();
        if (bin is null)
        {
            return null;
        }

        var asPostgresUser = Environment.IsPrivilegedProcess;
        var root = Directory.CreateTempSubdirectory("ghaport-pg-").FullName;
        // PostgreSQL cannot listen on port 0 and report back.
        var port = SocketIo.ReleasedLoopbackPort();
        var server = new PostgresServer(bin, root, asPostgresUser, port);
        try
        {
            if (asPostgresUser)
            {
                await RunAsync("chown", ["-R", "postgres:postgres", root]).ConfigureAwait(false);
            }

            await server.RunToolAsync("initdb", ["-D", server.DataDirectory, "-U", User, "--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C"]).ConfigureAwait(false);
            await server.StartServerAsync().ConfigureAwait(false);
            return server;
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private string DataDirectory => Path.Combine(_root, "data");

    private string Options => $"-p {Port} -k {_root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300";

    /// <summary>Stops the server (<c>pg_ctl stop -m fast</c>), as an outage of the database would: clients see it go.</summary>
    public Task StopServerAsync() => RunToolAsync("pg_ctl", ["-D", DataDirectory, "-m", "fast", "-w", "-t", "60", "stop"]);

    /// <summary>Starts a stopped server again on the same port and data.</summary>
    public Task StartServerAsync() =>
        RunToolAsync("pg_ctl", ["-D", DataDirectory, "-o", Options, "-l", Path.Combine(_root, "server.log"), "-w", "-t", "60", "start"]);

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (Directory.Exists(Path.Combine(DataDirectory, "global")))
            {
                await RunToolAsync("pg_ctl", ["-D", DataDirectory, "-m", "immediate", "-w", "-t", "30", "stop"]).ConfigureAwait(false);
            }
        }
        finally
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    private Task RunToolAsync(string tool, IReadOnlyList<string> args)
    {
        var path = Path.Combine(_binDirectory, tool);
        return _asPostgresUser
            ? RunAsync("runuser", ["-u", "postgres", "--", path, .. args])
            : RunAsync(path, args);
    }

    private static async Task RunAsync(string file, IReadOnlyList<string> args)
    {
        var start = new ProcessStartInfo(file)
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

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WithTimeout(TimeSpan.FromSeconds(90)).ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited with {process.ExitCode}: {await error.ConfigureAwait(false)}{await output.ConfigureAwait(false)}");
        }
    }
}
