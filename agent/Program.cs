using GitHubActionsPort.Agent.Cli;

return await AgentCommand.RunProcessAsync(args).ConfigureAwait(false);
