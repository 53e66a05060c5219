using GitHubActionsPort.Agent.Cli;
using GitHubActionsPort.Protocol.Tunnels;

// Before anything touches a socket: the runtime reads the setting once.
RelayProcess.PreferInlineSocketCompletions();
return await AgentCommand.RunProcessAsync(args).ConfigureAwait(false);
