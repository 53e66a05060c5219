namespace GitHubActionsPort.Harness.Bench.Scenarios;

/// <summary>The broker's RSS with <paramref name="Count"/> idle tunnels open, and the growth per tunnel in bytes.</summary>
internal sealed record IdleTunnelLevel(int Count, long Rss, double BytesPerTunnel);
