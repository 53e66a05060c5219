using GitHubActionsPort.Broker.Hosting;

return await BrokerCommand.RunAsync(args).ConfigureAwait(false);
