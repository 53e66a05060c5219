using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading.Channels;

namespace GitHubActionsPort.Tests;

/// <summary>
/// The real <c>ghaport-broker</c> under the .NET systemd integration: a <c>Type=notify</c> unit's manager is told
/// READY=1 once the broker listens and STOPPING=1 when SIGTERM stops it, and the console speaks the journal's format.
/// </summary>
/// <remarks>
/// Microsoft.Extensions.Hosting.Systemd 10.0 decides it runs under systemd when its parent process is named
/// <c>systemd</c> (or it is PID 1 with NOTIFY_SOCKET set); INVOCATION_ID alone is not enough. So the test starts the
/// broker from a shell reached through a symlink named <c>systemd</c> (the kernel names a process after the file it
/// was executed as) and listens on the NOTIFY_SOCKET it hands down, as systemd does.
/// </remarks>
[NonParallelizable]
public sealed class ServiceHostingTests
{
    private string _folder = null!;

    [SetUp]
    public void CreateFolder()
    {
        if (OperatingSystem.IsWindows())
        {
            Assert.Ignore("systemd's notify protocol is Unix-only; the Windows service path is proven by the win-x64 publish.");
        }

        // Short: a Unix socket path must fit in 108 bytes.
        _folder = Path.Combine(Path.GetTempPath(), "ghsd-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(_folder);
    }

    [TearDown]
    public void DeleteFolder()
    {
        if (_folder is not null && Directory.Exists(_folder))
        {
            Directory.Delete(_folder, recursive: true);
        }
    }

    [Test]
    public async Task UnderSystemd_NotifiesReady_LogsForTheJournal_AndNotifiesStoppingOnSigterm()
    {
        var notifyPath = Path.Combine(_folder, "notify");
        using var notify = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        notify.Bind(new UnixDomainSocketEndPoint(notifyPath));
        var datagrams = Channel.CreateUnbounded<string>();
        _ = ReceiveAllAsync(notify, datagrams.Writer);

        var config = Path.Combine(_folder, "broker.json");
        await File.WriteAllTextAsync(config, ConfigFileBroker.ToJson(Configuration()));

        using var manager = StartUnderFakeSystemd(
            ["--config", config, "--urls", "http://127.0.0.1:0"],
            new Dictionary<string, string?>
            {
                ["NOTIFY_SOCKET"] = notifyPath,
                ["INVOCATION_ID"] = Guid.NewGuid().ToString("N"),
                ["Broker__Admin__Url"] = "http://127.0.0.1:0",
                ["Broker__Metrics__Url"] = "http://127.0.0.1:0",
                ["Broker__Audit__Path"] = Path.Combine(_folder, "state", "audit.jsonl"),
                ["Broker__Leases__SigningKeyPath"] = Path.Combine(_folder, "state", "lease-signing-key.pem"),
                ["Broker__Store__Path"] = Path.Combine(_folder, "state", "broker-state.db"),
            },
            out var output);
        // A broker that fails to start exits at once: every wait for it ends then too, with what it printed.
        var exited = manager.WaitForExitAsync();
        try
        {
            var pidLine = await UntilExitAsync(output.WaitForLineAsync(l => l.StartsWith("pid ", StringComparison.Ordinal)), exited, output);
            var brokerPid = int.Parse(pidLine["pid ".Length..], CultureInfo.InvariantCulture);

            Assert.That(await UntilExitAsync(NextMatchingAsync(datagrams.Reader, "READY=1"), exited, output), Does.Contain("READY=1"));
            await UntilExitAsync(output.WaitForLineAsync(l => l.StartsWith("listening http://127.0.0.1:", StringComparison.Ordinal)), exited, output);
            // systemd's console format: "<level>category[event id] message", the level read by journald.
            var journalLine = await UntilExitAsync(output.WaitForLineAsync(l => Regex.IsMatch(l, @"^<[0-7]>Microsoft\.Hosting\.Lifetime\[\d+\] ")), exited, output);
            Assert.That(journalLine, Does.Not.Contain("info:"));

            using (var kill = Process.Start("kill", ["-TERM", brokerPid.ToString(CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync().DefaultTimeout();
            }

            Assert.That(await NextMatchingAsync(datagrams.Reader, "STOPPING=1").DefaultTimeout(), Does.Contain("STOPPING=1"));
            await manager.WaitForExitAsync().DefaultTimeout();
            Assert.That(manager.ExitCode, Is.Zero, "the broker's exit code, as its parent saw it:" + Environment.NewLine + output);
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException(ex.Message + " The broker printed:" + Environment.NewLine + output, ex);
        }
        finally
        {
            if (!manager.HasExited)
            {
                manager.Kill(entireProcessTree: true);
            }
        }
    }

    /// <summary>
    /// Runs <c>dotnet ghaport-broker.dll ARGS</c> as the child of a shell named <c>systemd</c>, which prints the
    /// broker's process id and exits with its exit code.
    /// </summary>
    private Process StartUnderFakeSystemd(IEnumerable<string> args, IReadOnlyDictionary<string, string?> environment, out Lines output)
    {
        var systemd = Path.Combine(_folder, "systemd");
        File.CreateSymbolicLink(systemd, "/bin/sh");
        var start = new ProcessStartInfo(systemd)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = _folder,
        };
        foreach (var arg in (string[])["-c", "\"$@\" & echo \"pid $!\"; wait $!", "systemd", "dotnet", Path.Combine(AppContext.BaseDirectory, "ghaport-broker.dll"), .. args])
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var name in start.Environment.Keys.Where(k =>
            k.StartsWith("Broker__", StringComparison.OrdinalIgnoreCase) || k.StartsWith("ASPNETCORE_", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            start.Environment.Remove(name);
        }

        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        var lines = new Lines();
        var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => lines.Add(e.Data);
        process.ErrorDataReceived += (_, e) => lines.Add(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        process.StandardInput.Close();
        output = lines;
        return process;
    }

    /// <summary>
    /// What <paramref name="wait"/> gives, bounded as every wait is; fails at once with the broker's output if the
    /// process exits first, rather than waiting out the timeout for a line that cannot come.
    /// </summary>
    private static async Task<T> UntilExitAsync<T>(Task<T> wait, Task exited, Lines output)
    {
        if (await Task.WhenAny(wait, exited).DefaultTimeout() == wait)
        {
            return await wait;
        }

        throw new InvalidOperationException("the broker exited before it was ready. It printed:" + Environment.NewLine + output);
    }

    private static async Task ReceiveAllAsync(Socket socket, ChannelWriter<string> datagrams)
    {
        var buffer = new byte[4096];
        try
        {
            while (true)
            {
                var read = await socket.ReceiveAsync(buffer, SocketFlags.None);
                await datagrams.WriteAsync(Encoding.UTF8.GetString(buffer, 0, read));
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            datagrams.TryComplete();
        }
    }

    private static async Task<string> NextMatchingAsync(ChannelReader<string> datagrams, string state)
    {
        await foreach (var datagram in datagrams.ReadAllAsync())
        {
            if (datagram.Split('\n').Contains(state, StringComparer.Ordinal))
            {
                return datagram;
            }
        }

        throw new InvalidOperationException($"the notify socket closed before {state}");
    }

    private static Dictionary<string, string?> Configuration() => new()
    {
        ["Broker:Issuers:0:Issuer"] = "http://127.0.0.1:5555",
        ["Broker:Issuers:0:Audiences:0"] = "ghaport",
        ["Broker:Targets:db"] = "127.0.0.1:5432",
        ["Broker:Rules:0:Name"] = "deploy-db",
        ["Broker:Rules:0:Targets:0"] = "db",
        ["Broker:Rules:0:Claims:repository"] = "acme/app",
    };

    /// <summary>Everything the process printed, in order, with a wait for a matching line.</summary>
    private sealed class Lines
    {
        private readonly List<string> _lines = [];
        private readonly List<(Func<string, bool> Match, TaskCompletionSource<string> Found)> _waits = [];

        public void Add(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (_lines)
            {
                _lines.Add(line);
                foreach (var wait in _waits.Where(w => w.Match(line)).ToList())
                {
                    _waits.Remove(wait);
                    wait.Found.TrySetResult(line);
                }
            }
        }

        public Task<string> WaitForLineAsync(Func<string, bool> match)
        {
            lock (_lines)
            {
                if (_lines.FirstOrDefault(match) is { } seen)
                {
                    return Task.FromResult(seen);
                }

                var found = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
                _waits.Add((match, found));
                return found.Task;
            }
        }

        public override string ToString()
        {
            lock (_lines)
            {
                return string.Join(Environment.NewLine, _lines);
            }
        }
    }
}
