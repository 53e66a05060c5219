using System.Diagnostics;
using System.Globalization;

namespace GitHubActionsPort.TestSupport;

/// <summary>
/// One of our programs as a real child process (<c>dotnet NAME.dll</c> from the test's output folder), or a tool
/// the bench compares against, with its standard output and error captured line by line, for what only a process
/// shows: exit codes, streams, signals, CPU time and memory.
/// </summary>
public sealed class ChildProcess : IAsyncDisposable
{
    private readonly Process _process;

    private ChildProcess(Process process, string name)
    {
        _process = process;
        Name = name;
    }

    public string Name { get; }

    public LineWriter Output { get; } = new();

    public LineWriter Error { get; } = new();

    public int Id => _process.Id;

    /// <summary>
    /// Starts <paramref name="dll"/> (a file name in the test's output folder) with <paramref name="args"/>.
    /// Environment variables that <paramref name="inherit"/> rejects are removed first, so the test run's own
    /// settings cannot leak in; then <paramref name="environment"/> is applied.
    /// </summary>
    public static ChildProcess Start(
        string dll,
        IEnumerable<string> args,
        IReadOnlyDictionary<string, string?>? environment = null,
        Func<string, bool>? inherit = null,
        string? workingDirectory = null)
    {
        ArgumentNullException.ThrowIfNull(dll);
        ArgumentNullException.ThrowIfNull(args);
        return StartProgram("dotnet", [Path.Combine(AppContext.BaseDirectory, dll), .. args], environment, inherit, workingDirectory, Path.GetFileNameWithoutExtension(dll));
    }

    /// <summary>
    /// Starts any program (<paramref name="fileName"/>, a path or a name looked up on PATH) the same way: streams
    /// captured, standard input closed, the environment filtered by <paramref name="inherit"/> and then
    /// <paramref name="environment"/> applied.
    /// </summary>
    public static ChildProcess StartProgram(
        string fileName,
        IEnumerable<string> args,
        IReadOnlyDictionary<string, string?>? environment = null,
        Func<string, bool>? inherit = null,
        string? workingDirectory = null,
        string? name = null)
    {
        ArgumentNullException.ThrowIfNull(fileName);
        ArgumentNullException.ThrowIfNull(args);
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Path.GetTempPath(),
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var variable in start.Environment.Keys.Where(k => inherit is not null && !inherit(k)).ToList())
        {
            start.Environment.Remove(variable);
        }

        foreach (var (variable, value) in environment ?? new Dictionary<string, string?>())
        {
            start.Environment[variable] = value;
        }

        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var child = new ChildProcess(process, name ?? Path.GetFileName(fileName));
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                child.Output.WriteLine(e.Data);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                child.Error.WriteLine(e.Data);
            }
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        process.StandardInput.Close();
        return child;
    }

    /// <summary>
    /// The <paramref name="occurrence"/>-th output line that matches, or null if the process exited first (its exit
    /// code is then available from <see cref="WaitForExitAsync"/>).
    /// </summary>
    public Task<string?> WaitForOutputOrExitAsync(Func<string, bool> match, int occurrence = 1) =>
        WaitForLineOrExitAsync(Output, match, occurrence);

    /// <summary>The matching output line; fails with everything the process printed if it exits first.</summary>
    public Task<string> WaitForOutputAsync(Func<string, bool> match, int occurrence = 1) => WaitForLineAsync(Output, match, occurrence);

    /// <summary>The matching line of standard error (where tools like socat report), as <see cref="WaitForOutputAsync"/>.</summary>
    public Task<string> WaitForErrorAsync(Func<string, bool> match, int occurrence = 1) => WaitForLineAsync(Error, match, occurrence);

    /// <summary>Whether the process has ended.</summary>
    public bool HasExited => _process.HasExited;

    private async Task<string> WaitForLineAsync(LineWriter stream, Func<string, bool> match, int occurrence) =>
        await WaitForLineOrExitAsync(stream, match, occurrence).ConfigureAwait(false)
        ?? throw new InvalidOperationException($"{Name} exited with {await WaitForExitAsync().ConfigureAwait(false)}: {Describe()}");

    private async Task<string?> WaitForLineOrExitAsync(LineWriter stream, Func<string, bool> match, int occurrence)
    {
        var line = stream.WaitForLineAsync(match, occurrence);
        var exited = _process.WaitForExitAsync();
        return await Task.WhenAny(line, exited).DefaultTimeout().ConfigureAwait(false) == line ? await line.ConfigureAwait(false) : null;
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
    /// Sends SIGTERM, as a runner cancelling a job or systemd stopping a service does, and returns the exit code.
    /// Windows has no signal to send another console process, so there the process is killed (exit code not 0).
    /// </summary>
    public async Task<int> TerminateAsync()
    {
        if (OperatingSystem.IsWindows())
        {
            _process.Kill(entireProcessTree: true);
            return await WaitForExitAsync().ConfigureAwait(false);
        }

        await SignalTerminateAsync().ConfigureAwait(false);
        return await WaitForExitAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Sends SIGTERM and returns at once, for a test that watches what the process does while it stops (a broker's
    /// drain); <see cref="WaitForExitAsync"/> then waits for the end. Unix only: Windows has no signal to send.
    /// </summary>
    public async Task SignalTerminateAsync()
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("Windows has no SIGTERM to send another console process.");
        }

        using var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync().DefaultTimeout().ConfigureAwait(false);
    }

    /// <summary>Kills the process with SIGKILL (no chance to clean up), as a crash or the OOM killer would.</summary>
    public void Kill() => _process.Kill(entireProcessTree: true);

    /// <summary>Everything the process printed, for a failure message.</summary>
    public string Describe() =>
        "stdout:" + Environment.NewLine + string.Join(Environment.NewLine, Output.Lines) + Environment.NewLine +
        "stderr:" + Environment.NewLine + string.Join(Environment.NewLine, Error.Lines);

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
