namespace GitHubActionsPort.Harness.Bench.Stores;

/// <summary>One store's rates, measured in the same run as the others: sessions granted and tunnels opened per second.</summary>
internal sealed record StoreRate(string Store, double SessionsPerSecond, double TunnelOpensPerSecond);
