using System.Diagnostics;
using System.Text.Json;
using System.Net;
using GitHubActionsPort.Agent.Cli;
using GitHubActionsPort.Agent.GitHub;

namespace GitHubActionsPort.Agent.Background;

/// <summary>
/// <c>ghaport down</c>: asks the background agent to end its session (the lease is closed at the broker) and waits
/// for it to exit. With no agent running it says so and succeeds, so a workflow's cleanup step can always run it.
/// </summary>
internal static class DownCommand
{
    private static readonly TimeSpan ReplyTimeout = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(10);

    public static async Task<int> RunAsync(string? stateDir, Func<string, string?> environment, TextWriter output)
    {
        var state = StateDirectory.Resolve(stateDir, environment, create: false);
        var reply = await ControlClient.AskAsync(state.ControlSocket, ControlServer.DownRequest, ReplyTimeout).ConfigureAwait(false);
        if (reply is null)
        {
            if (EndedState.Read(state) is { } ended)
            {
                // It stopped on its own when the broker ended its lease: the job hears it here, in its cleanup step.
                return await ReportEndedAsync(state, ended, environment, output).ConfigureAwait(false);
            }

            await output.WriteLineAsync($"ghaport: no background agent runs with state folder {state.Path}").ConfigureAwait(false);
            return ExitCodes.Ok;
        }

        if (reply.Length == 0)
        {
            // It took the request and went away before answering: stopped all the same.
            await output.WriteLineAsync($"ghaport: the background agent in {state.Path} is stopping").ConfigureAwait(false);
            return ExitCodes.Ok;
        }

        var status = JsonSerializer.Deserialize(reply, AgentStatusJson.Default.AgentStatus)
            ?? throw new AgentException(ExitCodes.Failure, "the background agent answered 'down' with nothing");
        await WaitForExitAsync(status.Pid).ConfigureAwait(false);
        if (status.Ended is not null)
        {
            return await ReportEndedAsync(state, EndedState.Read(state) ?? status, environment, output).ConfigureAwait(false);
        }

        var forwards = status.Forwards.Select(f => (f.Target, IPEndPoint.Parse(f.Address))).ToList();
        new GitHubWorkflow(environment, output).AppendSummary(
            status.LeaseId, forwards, status.Forwards.Select(f => f.ToTotals()).ToList(), status.StartedAt, DateTimeOffset.UtcNow, "ghaport down");
        await output.WriteLineAsync($"ghaport: stopped the background agent (pid {status.Pid}); lease {status.LeaseId} is closed").ConfigureAwait(false);
        return ExitCodes.Ok;
    }

    /// <summary>Reports a lease that ended before 'down' (revoked, blocked, expired) in the output and the step summary: exit code 8.</summary>
    private static async Task<int> ReportEndedAsync(StateDirectory state, AgentStatus ended, Func<string, string?> environment, TextWriter output)
    {
        var forwards = ended.Forwards.Select(f => (f.Target, IPEndPoint.Parse(f.Address))).ToList();
        new GitHubWorkflow(environment, output).AppendSummary(
            ended.LeaseId, forwards, ended.Forwards.Select(f => f.ToTotals()).ToList(), ended.StartedAt, DateTimeOffset.UtcNow, ended.Ended ?? "ended");
        await output.WriteLineAsync($"ghaport: the background agent (pid {ended.Pid}) had already stopped: lease {ended.LeaseId} ended: {ended.Ended}").ConfigureAwait(false);
        EndedState.Clear(state);
        return ExitCodes.LeaseEnded;
    }

    /// <summary>The agent exits once its tunnels are closed; one that does not within the bound is ended.</summary>
    private static async Task WaitForExitAsync(int pid)
    {
        Process process;
        try
        {
            process = Process.GetProcessById(pid);
        }
        catch (ArgumentException)
        {
            return;
        }

        using (process)
        {
            using var deadline = new CancellationTokenSource(ExitTimeout);
            try
            {
                await process.WaitForExitAsync(deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }
}
