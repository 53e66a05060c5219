using System.Diagnostics;
using System.Globalization;

namespace GitHubActionsPort.Tests;

/// <summary>
/// <c>ghaport-broker</c> as a real child process (<c>dotnet ghaport-broker.dll</c> from the test's output folder),
/// for what only a process shows: exit codes, standard error, signals.
/// </summary>
public sealed class BrokerProcess : IAsyncDisposable
{
    private readonly Process _process;

    private BrokerProcess(Process process)
    {
        _process = process;
    }

    public LineWriter Output { get; } = new();

    public LineWriter Error { get; } = new();

    public static string BrokerDll => Path.Combine(AppContext.BaseDirectory, "ghaport-broker.dll");

    public static BrokerProcess Start(IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null)
    {
        ArgumentNullException.ThrowIfNull(args);
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            // Its content root is its own folder; run it from elsewhere so a relative path means the test's temp file.
            WorkingDirectory = Path.GetTempPath(),
        };
        start.ArgumentList.Add(BrokerDll);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        // The test run's own settings must not reach the broker's configuration (it reads all of the environment).
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("Broker__", StringComparison.OrdinalIgnoreCase) || k.StartsWith("ASPNETCORE_", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            start.Environment.Remove(name);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var broker = new BrokerProcess(process);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                broker.Output.WriteLine(e.Data);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                broker.Error.WriteLine(e.Data);
            }
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        process.StandardInput.Close();
        return broker;
    }

    /// <summary>
    /// Runs a start-up expected to fail and returns the exit code with everything it printed; a broker that starts
    /// listening instead is stopped and reported with exit code -1, so the test fails at once, not at a timeout.
    /// </summary>
    public static async Task<(int ExitCode, BrokerProcess Broker)> RunToExitAsync(IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null)
    {
        var broker = Start(args, environment);
        try
        {
            return (await broker.WaitForExitUnlessListeningAsync() ?? -1, broker);
        }
        finally
        {
            await broker.DisposeAsync();
        }
    }

    public async Task<int> WaitForExitAsync()
    {
        await _process.WaitForExitAsync().DefaultTimeout();
        // The parameterless wait also drains the redirected streams.
        _process.WaitForExit();
        return _process.ExitCode;
    }

    /// <summary>Waits for a line on standard output; fails with standard error if the process exits first.</summary>
    public async Task<string> WaitForOutputAsync(Func<string, bool> match)
    {
        var line = Output.WaitForLineAsync(match);
        var exited = _process.WaitForExitAsync();
        if (await Task.WhenAny(line, exited).DefaultTimeout() == exited)
        {
            throw new InvalidOperationException($"ghaport-broker exited with {_process.ExitCode}: {string.Join(Environment.NewLine, Error.Lines)}");
        }

        return await line;
    }

    /// <summary>
    /// For a start-up expected to fail: the exit code, or null when the broker printed its listening line instead
    /// (then it has started and is left running for the caller to stop).
    /// </summary>
    public async Task<int?> WaitForExitUnlessListeningAsync()
    {
        var listening = Output.WaitForLineAsync(line => line.StartsWith("listening ", StringComparison.Ordinal));
        var exited = _process.WaitForExitAsync();
        if (await Task.WhenAny(listening, exited).DefaultTimeout() == listening)
        {
            return null;
        }

        return await WaitForExitAsync();
    }

    /// <summary>Sends SIGTERM, as systemd does to stop the service, and returns the exit code.</summary>
    public async Task<int> TerminateAsync()
    {
        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync().DefaultTimeout();
        }

        return await WaitForExitAsync();
    }

    public string Describe() =>
        "stdout:" + Environment.NewLine + string.Join(Environment.NewLine, Output.Lines) + Environment.NewLine +
        "stderr:" + Environment.NewLine + string.Join(Environment.NewLine, Error.Lines);

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().DefaultTimeout();
        }

        _process.Dispose();
    }
}
