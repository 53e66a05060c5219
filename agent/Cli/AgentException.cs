namespace GitHubActionsPort.Agent.Cli;

/// <summary>A failure with a one-line cause for the job's log and the exit code that classifies it.</summary>
public sealed class AgentException(int exitCode, string message, Exception? inner = null) : Exception(message, inner)
{
    public int ExitCode { get; } = exitCode;
}
