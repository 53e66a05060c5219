namespace GitHubActionsPort.Harness.Bench.Scenarios;

/// <summary>Round-trip times of one latency run, in microseconds.</summary>
internal sealed record LatencySample(double P50, double P99, double Mean);
