namespace GitHubActionsPort.Harness.LaneCost;

/// <summary>One transfer through one lane: its rate and the CPU each process spent on it.</summary>
/// <param name="MegabytesPerSecond">Payload rate, 10^6 bytes per second.</param>
/// <param name="BrokerCpuPerGb">Broker CPU seconds (user + system) per 10^9 payload bytes.</param>
/// <param name="AgentCpuPerGb">Agent CPU seconds per 10^9 payload bytes.</param>
/// <param name="HarnessCpuPerGb">The harness's (client and target) CPU seconds per 10^9 payload bytes: the same work on both lanes, a check on noise.</param>
internal sealed record LaneSample(double MegabytesPerSecond, double BrokerCpuPerGb, double AgentCpuPerGb, double HarnessCpuPerGb);
