using System.Globalization;
using System.Text.Json;
using GitHubActionsPort.Agent.Cli;

namespace GitHubActionsPort.Agent.Background;

/// <summary>
/// <c>ghaport status [--json]</c>: the background agent's lease and, per forward, its connections (live, failed,
/// refused) and bytes. A lease that ended on its own (revoked, blocked, expired) is shown with why, and exit code 8.
/// </summary>
internal static class StatusCommand
{
    public static async Task<int> RunAsync(string? stateDir, bool json, Func<string, string?> environment, TextWriter output)
    {
        var state = StateDirectory.Resolve(stateDir, environment, create: false);
        var reply = await ControlClient.AskAsync(state.ControlSocket, ControlServer.StatusRequest, TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        var status = (reply is null
            ? EndedState.Read(state) ?? throw new AgentException(ExitCodes.Failure, $"no background agent runs with state folder {state.Path}")
            : JsonSerializer.Deserialize(reply, AgentStatusJson.Default.AgentStatus))
            ?? throw new AgentException(ExitCodes.Failure, "the background agent's status is empty");
        var exitCode = status.Ended is null ? ExitCodes.Ok : ExitCodes.LeaseEnded;

        if (json)
        {
            await output.WriteLineAsync(JsonSerializer.Serialize(status, AgentStatusJson.Default.AgentStatus)).ConfigureAwait(false);
            return exitCode;
        }

        await output.WriteLineAsync(status.Ended is { } ended
            ? $"lease {status.LeaseId} ended: {ended} (broker {status.Broker}, pid {status.Pid}{(reply is null ? ", exited" : string.Empty)})"
            : $"lease {status.LeaseId} expires {status.ExpiresAt:u} (broker {status.Broker}, pid {status.Pid})").ConfigureAwait(false);
        if (status.Brokers.Count > 1)
        {
            await output.WriteLineAsync($"brokers: {string.Join(", ", status.Brokers.Select(b => b == status.Broker ? b + " (in use)" : b))}").ConfigureAwait(false);
        }

        await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"{"FORWARD",-24}{"TARGET",-20}{"CONNECTIONS",12}{"ACTIVE",8}{"FAILED",8}{"REFUSED",8}{"SENT",12}{"RECEIVED",12}")).ConfigureAwait(false);
        foreach (var forward in status.Forwards)
        {
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"{forward.Address,-24}{forward.Target,-20}{forward.Connections,12}{forward.Active,8}{forward.Failed,8}{forward.Refused,8}{forward.BytesSent,12}{forward.BytesReceived,12}")).ConfigureAwait(false);
        }

        return exitCode;
    }
}
