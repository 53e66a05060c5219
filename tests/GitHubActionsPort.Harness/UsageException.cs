namespace GitHubActionsPort.Harness;

/// <summary>The command line is wrong; the message says how, and the harness answers with its usage and exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);
