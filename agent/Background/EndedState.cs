using System.Text.Json;

namespace GitHubActionsPort.Agent.Background;

/// <summary>
/// The last status of a background agent whose lease ended without a 'ghaport down' (revoked, blocked, no longer
/// permitted, expired): it exits, and nobody reads a background process's exit code, so <c>ghaport status</c> and
/// <c>ghaport down</c> read this file in the state folder instead. 'down' removes it, and so does the next <c>up --detach</c>.
/// </summary>
internal static class EndedState
{
    public static void Write(StateDirectory state, AgentStatus status)
    {
        ArgumentNullException.ThrowIfNull(state);
        var temporary = state.EndedFile + ".tmp";
        File.WriteAllText(temporary, JsonSerializer.Serialize(status, AgentStatusJson.Default.AgentStatus));
        File.Move(temporary, state.EndedFile, overwrite: true);
    }

    /// <summary>The recorded status, or null when there is none (or it cannot be read).</summary>
    public static AgentStatus? Read(StateDirectory state)
    {
        ArgumentNullException.ThrowIfNull(state);
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllText(state.EndedFile), AgentStatusJson.Default.AgentStatus);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException)
        {
            return null;
        }
    }

    public static void Clear(StateDirectory state)
    {
        ArgumentNullException.ThrowIfNull(state);
        File.Delete(state.EndedFile);
    }
}
