namespace GitHubActionsPort.Harness.Bench.Routes;

/// <summary>
/// The processes that carry a route's bytes, for CPU and memory accounting. <paramref name="RunnerSide"/> sits where
/// the agent does on a CI runner (the agent; the first socat), <paramref name="ServerSide"/> where the broker does
/// (the broker; the second socat).
/// </summary>
/// <param name="RunnerSide">Process ids; empty when they cannot be told apart from the harness (the agent in-process).</param>
/// <param name="ServerSide">Process ids.</param>
/// <param name="Forks">
/// True when each connection runs in a forked child (socat): a child's CPU time reaches its parent's counters only
/// once the parent has reaped it, so the bench waits for that before reading them.
/// </param>
/// <param name="Broker">The broker's process id, whose resident memory the idle-tunnel scenario reads; null without a broker.</param>
/// <param name="BrokerMetrics">The broker's <c>/metrics</c> address, to see when its tunnels have all closed; null without one.</param>
internal sealed record RouteProcesses(IReadOnlyList<int> RunnerSide, IReadOnlyList<int> ServerSide, bool Forks, int? Broker = null, Uri? BrokerMetrics = null);
