namespace GitHubActionsPort.Harness.Bench;

/// <summary>
/// How much each scenario moves. The defaults take about half a minute on two cores at ~500 MB/s through the
/// tunnel, leaving room under two minutes for a machine a few times slower.
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

    /// <summary>How long both routes exchange unsampled round trips before the latency samples start.</summary>
    public required TimeSpan LatencyWarmUp { get; init; }

    /// <summary>1-byte round trips sampled per route.</summary>
    public required int LatencyRoundTrips { get; init; }

    /// <summary>Connections opened, used once and closed per connection-rate run.</summary>
    public required int Connections { get; init; }

    /// <summary>Connections in flight at once in the connection-rate scenario.</summary>
    public required int ConnectionConcurrency { get; init; }

    public static BenchSizes Default { get; } = new()
    {
        OneStreamBytes = 512 * MiB,
        PerStreamBytes = 64 * MiB,
        Runs = 5,
        LatencyWarmUp = TimeSpan.FromSeconds(1),
        LatencyRoundTrips = 10_000,
        Connections = 600,
        ConnectionConcurrency = 4,
    };

    public static BenchSizes Quick { get; } = new()
    {
        OneStreamBytes = 32 * MiB,
        PerStreamBytes = 8 * MiB,
        Runs = 1,
        LatencyWarmUp = TimeSpan.FromMilliseconds(250),
        LatencyRoundTrips = 1_000,
        Connections = 100,
        ConnectionConcurrency = 4,
    };

    /// <summary>One pass of every scenario before measuring: JIT tiering, pools, TCP windows and the HTTP/2 connection warmed.</summary>
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
