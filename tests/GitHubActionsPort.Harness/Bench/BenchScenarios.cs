namespace GitHubActionsPort.Harness.Bench;

/// <summary>The scenario groups <c>--scenarios</c> picks from.</summary>
[Flags]
internal enum BenchScenarios
{
    None = 0,

    /// <summary><c>throughput</c>: one stream and 8 streams each way, and the CPU seconds per GB they cost.</summary>
    Throughput = 1,

    /// <summary><c>rtt</c>: 1-byte echo round trips, p50 and p99.</summary>
    RoundTrip = 2,

    /// <summary><c>connect</c>: new tunnels per second with the lease held.</summary>
    ConnectionRate = 4,

    /// <summary><c>idle</c>: broker RSS per idle tunnel.</summary>
    IdleTunnels = 8,

    /// <summary><c>pgbench</c>: select-only TPS against PostgreSQL.</summary>
    Pgbench = 16,

    /// <summary><c>stores</c>: session grants and tunnel opens per second with each state store (memory, sqlite, postgres).</summary>
    Stores = 32,

    /// <summary>
    /// <c>startup</c>: size and time to the ready line of each kind of agent binary (framework-dependent, single
    /// file, Native AOT). Not in <see cref="All"/>: it publishes the agent three ways first, minutes on two cores.
    /// </summary>
    Startup = 64,

    All = Throughput | RoundTrip | ConnectionRate | IdleTunnels | Pgbench | Stores,
}
