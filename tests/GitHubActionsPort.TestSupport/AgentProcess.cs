using System.Diagnostics;
using System.Net;

namespace GitHubActionsPort.TestSupport;

/// <summary>
/// The <c>ghaport</c> agent as a real child process (<c>dotnet ghaport.dll</c> from the test's output folder),
/// for what only a process shows: exit codes, standard streams, signals.
/// </summary>
public sealed class AgentProcess : IAsyncDisposable
{
    private readonly Process _process;

    private AgentProcess(Process process, LineWriter output, LineWriter error)
    {
        _process = process;
        Output = output;
        Error = error;
    }

    public LineWriter Output { get; }

    public LineWriter Error { get; }

    public int Id => _process.Id;

    public Dictionary<string, IPEndPoint> Forwards { get; } = new(StringComparer.Ordinal);

    public static string AgentDll => Path.Combine(AppContext.BaseDirectory, "ghaport.dll");

    public static AgentProcess Start(IEnumerable<string> args, IReadOnlyDictionary<string, string?>? environment = null)
    {
        ArgumentNullException.ThrowIfNull(args);
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(AgentDll);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        // A clean slate: the test's own CI variables must not leak into the agent's choice of token source.
        foreach (var name in new[] { "ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "GITHUB_ACTIONS" })
        {
            start.Environment.Remove(name);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            start.Environment[name] = value;
        }

        var output = new LineWriter();
        var error = new LineWriter();
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                output.WriteLine(e.Data);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                error.WriteLine(e.Data);
            }
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        process.StandardInput.Close();
        return new AgentProcess(process, output, error);
    }

    /// <summary>Waits for <paramref name="count"/> ready lines; fails with the agent's standard error if it exits first.</summary>
    public async Task WaitReadyAsync(int count)
    {
        var exited = _process.WaitForExitAsync();
        var ready = Output.WaitForLineAsync(line => line.StartsWith("ready ", StringComparison.Ordinal), count);
        if (await Task.WhenAny(ready, exited).DefaultTimeout().ConfigureAwait(false) == exited)
        {
            await exited.ConfigureAwait(false);
            throw new InvalidOperationException($"ghaport exited with {_process.ExitCode} before it was ready: {string.Join(Environment.NewLine, Error.Lines)}");
        }

        foreach (var line in Output.Lines)
        {
            if (ReadyLine.TryParse(line, out var endPoint, out var target))
            {
                Forwards[target] = endPoint;
            }
        }
    }

    /// <summary>Waits for the process to exit by itself and returns its exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan? timeout = null)
    {
        await _process.WaitForExitAsync().WithTimeout(timeout ?? TaskTimeouts.Default).ConfigureAwait(false);
        // The parameterless wait also drains the redirected streams.
        _process.WaitForExit();
        return _process.ExitCode;
    }

    /// <summary>
    /// Sends SIGTERM, as a runner does when a job is cancelled, and returns the exit code. Windows has no signal
    /// to send another console process, so there the process is killed (and its exit code is not 0).
    /// </summary>
    public async Task<int> TerminateAsync()
    {
        if (OperatingSystem.IsWindows())
        {
            _process.Kill(entireProcessTree: true);
            return await WaitForExitAsync().ConfigureAwait(false);
        }

        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync().DefaultTimeout().ConfigureAwait(false);
        }

        return await WaitForExitAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().DefaultTimeout().ConfigureAwait(false);
        }

        _process.Dispose();
    }
}
