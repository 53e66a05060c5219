using GitHubActionsPort.Broker.Hosting;
using GitHubActionsPort.Protocol.Tunnels;

// Before anything touches a socket: the runtime reads the setting once.
RelayProcess.PreferInlineSocketCompletions();
return await BrokerCommand.RunAsync(args).ConfigureAwait(false);
