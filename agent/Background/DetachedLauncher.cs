using System.Diagnostics;
using GitHubActionsPort.Agent.Cli;
using GitHubActionsPort.Agent.Forwarding;

namespace GitHubActionsPort.Agent.Background;

/// <summary>
/// <c>ghaport up --detach</c>: starts the same command as a background agent, relays its ready lines, and returns
/// once it reports ready (every forward listening and, unless <c>--no-probe</c>, every target answering through the
/// broker). A background agent that fails before that is reported with its own message and exit code; one that is
/// not ready within <c>--timeout</c> is stopped. Either way nothing is left running.
/// </summary>
internal static class DetachedLauncher
{
    /// <summary>How long a stopped agent may take to close its tunnels and lease (it bounds each step itself) before it is ended outright.</summary>
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(15);

    public static async Task<int> RunAsync(UpArguments args, AgentContext context, TextWriter error, CancellationToken stopping)
    {
        var state = StateDirectory.Resolve(args.StateDirectory, context.Environment, create: true);
        if (await ControlClient.AskAsync(state.ControlSocket, ControlServer.StatusRequest, TimeSpan.FromSeconds(2)).ConfigureAwait(false) is not null)
        {
            throw new AgentException(ExitCodes.Usage, $"an agent already runs with state folder {state.Path}; run 'ghaport down' first, or give another --state-dir");
        }

        // What a previous agent left when its lease ended belongs to that run, not this one.
        EndedState.Clear(state);

        using var child = new Process { StartInfo = BackgroundStart(args, state) };
        child.Start();
        // The background agent must hold none of the step's streams, or the step would wait for it to exit.
        child.StandardInput.Close();
        var errors = child.StandardError.ReadToEndAsync(CancellationToken.None);

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        deadline.CancelAfter(args.Timeout);
        try
        {
            while (await child.StandardOutput.ReadLineAsync(deadline.Token).ConfigureAwait(false) is { } line)
            {
                if (line == AgentRunner.DetachedLine)
                {
                    await context.Out.WriteLineAsync($"ghaport: running in the background (pid {child.Id}); log: {state.LogFile}; stop it with 'ghaport down'").ConfigureAwait(false);
                    return ExitCodes.Ok;
                }

                // Ready lines, and GitHub's add-mask commands, which must reach the step's output.
                await context.Out.WriteLineAsync(line).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            await StopAsync(child).ConfigureAwait(false);
            if (stopping.IsCancellationRequested)
            {
                return ExitCodes.Ok;
            }

            throw new AgentException(ExitCodes.NotReady, $"the agent was not ready within {args.Timeout.TotalSeconds:0.#} s and was stopped; its log (pid {child.Id}) is {state.LogFile}");
        }

        // It ended before it was ready: its own one-line cause and exit code are the answer.
        await child.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        var cause = (await errors.ConfigureAwait(false)).Trim();
        if (cause.Length > 0)
        {
            await error.WriteLineAsync(cause).ConfigureAwait(false);
        }

        return child.ExitCode == 0 ? ExitCodes.Failure : child.ExitCode;
    }

    /// <summary>
    /// Stops an agent that was not ready in time the way a stop signal does, so a lease it already holds is closed at
    /// the broker on its way out; one that does not go within the bound, or cannot be asked, is ended outright.
    /// </summary>
    private static async Task StopAsync(Process child)
    {
        if (await AgentPlatform.Current.RequestStopAsync(child).ConfigureAwait(false))
        {
            using var bound = new CancellationTokenSource(StopTimeout);
            try
            {
                await child.WaitForExitAsync(bound.Token).ConfigureAwait(false);
                return;
            }
            catch (OperationCanceledException)
            {
                // Still there: ended below.
            }
        }

        child.Kill(entireProcessTree: true);
        await child.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
    }

    private static ProcessStartInfo BackgroundStart(UpArguments args, StateDirectory state)
    {
        var start = new ProcessStartInfo
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = state.Path,
        };

        // Under 'dotnet ghaport.dll' (or the .NET tool shim) the process is the dotnet host: name the assembly too.
        var process = Environment.ProcessPath ?? throw new AgentException(ExitCodes.Failure, "cannot tell which executable to start in the background");
        start.FileName = process;
        if (Path.GetFileNameWithoutExtension(process).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "ghaport.dll"));
        }

        start.ArgumentList.Add("up");
        foreach (var arg in WithoutLauncherFlags(args.Raw))
        {
            start.ArgumentList.Add(arg);
        }

        start.ArgumentList.Add("--background");
        start.ArgumentList.Add("--state-dir");
        start.ArgumentList.Add(state.Path);
        if (!args.Probe)
        {
            start.ArgumentList.Add("--no-probe");
        }

        AgentPlatform.Current.PrepareDetachedStart(start);
        return start;
    }

    /// <summary>The arguments for the background agent: everything but what only the launcher acts on.</summary>
    private static IEnumerable<string> WithoutLauncherFlags(IReadOnlyList<string> raw)
    {
        for (var i = 0; i < raw.Count; i++)
        {
            // The parser also reads "--name:value" (as "--name=value" and "--name value").
            var name = raw[i].Split(['=', ':'], 2)[0];
            switch (name)
            {
                case "--detach" or "--no-probe":
                    continue;
                case "--timeout" or "--state-dir":
                    if (name.Length == raw[i].Length)
                    {
                        i++;
                    }

                    continue;
                default:
                    yield return raw[i];
                    break;
            }
        }
    }
}
