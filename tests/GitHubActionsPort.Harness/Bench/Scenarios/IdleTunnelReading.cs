namespace GitHubActionsPort.Harness.Bench.Scenarios;

/// <summary>
/// The broker's RSS before the idle tunnels and at each count of them reached; when a count was not reached,
/// <paramref name="Failure"/> says why and <paramref name="OpenWhenFailed"/> how many were open then.
/// </summary>
internal sealed record IdleTunnelReading(long RssBefore, IReadOnlyList<IdleTunnelLevel> Levels, Exception? Failure, int OpenWhenFailed);
