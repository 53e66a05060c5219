namespace GitHubActionsPort.Broker.Hosting;

/// <summary>What <c>ghaport-broker</c> was asked to do.</summary>
internal enum BrokerMode
{
    /// <summary><c>run</c> (the default): serve sessions and tunnels.</summary>
    Run,

    /// <summary><c>dev</c>: serve, with a development issuer on loopback.</summary>
    Dev,

    /// <summary><c>policy explain</c>: judge one id-token against the policy and print why.</summary>
    PolicyExplain,
}
