namespace GitHubActionsPort.Harness.Bench;

/// <summary>
/// How much each scenario moves. The defaults take three to four minutes for all six routes on two cores, the
/// quick sizes well under a minute; either way every route is measured in the same run as direct.
/// </summary>
internal sealed record BenchSizes
{
    private const long MiB = 1024 * 1024;

    /// <summary>Bytes one stream moves in the one-stream throughput scenarios.</summary>
    public required long OneStreamBytes { get; init; }

    /// <summary>Bytes each stream moves in the 8-stream throughput scenarios.</summary>
    public required long PerStreamBytes { get; init; }

    /// <summary>Runs of each throughput and connection-rate scenario per route, alternating routes; the median is reported.</summary>
    public required int Runs { get; init; }

    /// <summary>How long all routes exchange unsampled round trips before the latency samples start.</summary>
    public required TimeSpan LatencyWarmUp { get; init; }

    /// <summary>1-byte round trips sampled per route.</summary>
    public required int LatencyRoundTrips { get; init; }

    /// <summary>Connections opened, used once and closed per connection-rate run.</summary>
    public required int Connections { get; init; }

    /// <summary>Connections in flight at once in the connection-rate scenario.</summary>
    public required int ConnectionConcurrency { get; init; }

    /// <summary>Idle tunnels held at once in the idle-tunnel scenario, reached one count after another.</summary>
    public required IReadOnlyList<int> IdleTunnels { get; init; }

    /// <summary>Idle tunnels being opened at once.</summary>
    public int IdleTunnelConcurrency { get; init; } = 32;

    /// <summary>pgbench's clients (<c>-c</c>), each one connection through the route.</summary>
    public int PgbenchClients { get; init; } = 8;

    /// <summary>pgbench's worker threads (<c>-j</c>).</summary>
    public int PgbenchThreads { get; init; } = 2;

    /// <summary>How long each pgbench run lasts (<c>-T</c>).</summary>
    public required TimeSpan PgbenchDuration { get; init; }

    /// <summary>pgbench runs per route, alternating routes; the median is reported.</summary>
    public required int PgbenchRuns { get; init; }

    /// <summary>Sessions granted per store in the state-store scenario.</summary>
    public required int StoreSessions { get; init; }

    /// <summary>Tunnels opened per store in the state-store scenario.</summary>
    public required int StoreTunnelOpens { get; init; }

    /// <summary>Measured starts of each kind of agent in the start-up scenario (after one unmeasured start each).</summary>
    public required int StartupRuns { get; init; }

    public static BenchSizes Default { get; } = new()
    {
        OneStreamBytes = 512 * MiB,
        PerStreamBytes = 64 * MiB,
        Runs = 3,
        LatencyWarmUp = TimeSpan.FromSeconds(1),
        LatencyRoundTrips = 10_000,
        Connections = 600,
        ConnectionConcurrency = 4,
        // 9,000: what the raw lane (two sockets a tunnel in the broker) can hold under a 20,000 open-file limit, so
        // its figure near 10,000 is measured where the limit cannot be raised.
        IdleTunnels = [1_000, 9_000, 10_000],
        PgbenchDuration = TimeSpan.FromSeconds(5),
        PgbenchRuns = 2,
        StoreSessions = 1_000,
        StoreTunnelOpens = 3_000,
        StartupRuns = 15,
    };

    public static BenchSizes Quick { get; } = new()
    {
        OneStreamBytes = 32 * MiB,
        PerStreamBytes = 4 * MiB,
        Runs = 1,
        LatencyWarmUp = TimeSpan.FromMilliseconds(250),
        LatencyRoundTrips = 1_000,
        Connections = 100,
        ConnectionConcurrency = 4,
        IdleTunnels = [1_000],
        PgbenchDuration = TimeSpan.FromSeconds(2),
        PgbenchRuns = 1,
        StoreSessions = 100,
        StoreTunnelOpens = 300,
        StartupRuns = 3,
    };

    /// <summary>One pass of the traffic scenarios before measuring: JIT tiering, pools, TCP and HTTP/2 windows warmed on every route.</summary>
    public BenchSizes WarmUp() => this with
    {
        OneStreamBytes = Math.Min(OneStreamBytes, 16 * MiB),
        PerStreamBytes = Math.Min(PerStreamBytes, 4 * MiB),
        Runs = 1,
        LatencyWarmUp = TimeSpan.Zero,
        LatencyRoundTrips = Math.Min(LatencyRoundTrips, 500),
        Connections = Math.Min(Connections, 50),
    };
}
