using System.Diagnostics;
using System.Globalization;

namespace GitHubActionsPort.TestSupport;

/// <summary>
/// One of our programs as a real child process (<c>dotnet NAME.dll</c> from the test's output folder), with its
/// standard output and error captured line by line, for what only a process shows: exit codes, streams, signals.
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
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Path.GetTempPath(),
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, dll));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var name in start.Environment.Keys.Where(k => inherit is not null && !inherit(k)).ToList())
        {
            start.Environment.Remove(name);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            start.Environment[name] = value;
        }

        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var child = new ChildProcess(process, Path.GetFileNameWithoutExtension(dll));
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
    public async Task<string?> WaitForOutputOrExitAsync(Func<string, bool> match, int occurrence = 1)
    {
        var line = Output.WaitForLineAsync(match, occurrence);
        var exited = _process.WaitForExitAsync();
        return await Task.WhenAny(line, exited).DefaultTimeout().ConfigureAwait(false) == line ? await line.ConfigureAwait(false) : null;
    }

    /// <summary>The matching output line; fails with everything the process printed if it exits first.</summary>
    public async Task<string> WaitForOutputAsync(Func<string, bool> match, int occurrence = 1) =>
        await WaitForOutputOrExitAsync(match, occurrence).ConfigureAwait(false)
        ?? throw new InvalidOperationException($"{Name} exited with {await WaitForExitAsync().ConfigureAwait(false)}: {Describe()}");

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

        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync().DefaultTimeout().ConfigureAwait(false);
        }

        return await WaitForExitAsync().ConfigureAwait(false);
    }

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
