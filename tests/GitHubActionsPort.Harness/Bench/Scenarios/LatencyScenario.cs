using System.Diagnostics;
using System.Net.Sockets;
using GitHubActionsPort.Harness.Bench.Routes;

namespace GitHubActionsPort.Harness.Bench.Scenarios;

/// <summary>
/// Request/response latency, the cost a chatty protocol (a database driver) pays per query: one connection per
/// route to the echo target, one byte out and the same byte back, each round trip waiting for the one before, so
/// nothing is pipelined. All routes are sampled in alternating blocks, so a noisy moment on a small machine lands
/// on all alike instead of skewing their ratios.
/// </summary>
internal sealed class LatencyScenario(TimeSpan warmUp, int roundTrips)
{
    private const int Blocks = 10;
    private const int WarmUpBatch = 100;
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(1);

    public string Name => $"1-byte echo round trip ({roundTrips:N0} on one connection)";

    /// <summary>
    /// Samples every route; a route that fails is reported to <paramref name="failed"/> and left out, the others go on.
    /// </summary>
    public async Task<IReadOnlyDictionary<string, LatencySample>> MeasureAsync(IReadOnlyList<BenchRoute> routes, Action<BenchRoute, Exception> failed, CancellationToken stopping)
    {
        ArgumentNullException.ThrowIfNull(routes);
        ArgumentNullException.ThrowIfNull(failed);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        timeout.CancelAfter(Timeout);
        var cancellationToken = timeout.Token;
        var buffer = new byte[1];

        var lanes = new List<Lane>();
        try
        {
            foreach (var route in routes)
            {
                await TryAsync(route, async () => lanes.Add(new Lane(route, await SocketIo.ConnectAsync(route.Echo), roundTrips)));
            }

            // By time, not count: tiered JIT recompiles hot methods in the background only after they have been hot
            // for a while, and on two cores that compile visibly stalls round trips until it is done.
            var warmingUp = Stopwatch.StartNew();
            var discarded = new long[WarmUpBatch];
            while (warmingUp.Elapsed < warmUp && lanes.Count > 0)
            {
                foreach (var lane in lanes.ToList())
                {
                    await TryAsync(lane.Route, () => SampleAsync(lane.Socket, buffer, discarded, cancellationToken), () => Drop(lane));
                }
            }

            var blockSize = (roundTrips + Blocks - 1) / Blocks;
            for (var start = 0; start < roundTrips; start += blockSize)
            {
                var length = Math.Min(blockSize, roundTrips - start);
                foreach (var lane in lanes.ToList())
                {
                    await TryAsync(lane.Route, () => SampleAsync(lane.Socket, buffer, lane.Ticks.AsMemory(start, length), cancellationToken), () => Drop(lane));
                }
            }

            foreach (var lane in lanes.ToList())
            {
                await TryAsync(lane.Route, () => CloseAsync(lane.Socket, buffer, cancellationToken), () => Drop(lane));
            }

            return lanes.ToDictionary(lane => lane.Route.Key, lane => Summarize(lane.Ticks), StringComparer.Ordinal);
        }
        finally
        {
            foreach (var lane in lanes)
            {
                lane.Socket.Dispose();
            }
        }

        void Drop(Lane lane)
        {
            lanes.Remove(lane);
            lane.Socket.Dispose();
        }

        async Task TryAsync(BenchRoute route, Func<Task> action, Action? onFailure = null)
        {
            try
            {
                await action();
            }
            catch (Exception ex) when (!stopping.IsCancellationRequested)
            {
                onFailure?.Invoke();
                failed(route, ex);
            }
        }
    }

    /// <summary>One byte out, the same byte back.</summary>
    public static async Task RoundTripAsync(Socket socket, byte[] buffer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(socket);
        await socket.SendAsync(buffer.AsMemory(0, 1), SocketFlags.None, cancellationToken);
        if (await socket.ReceiveAsync(buffer.AsMemory(0, 1), SocketFlags.None, cancellationToken) == 0)
        {
            throw new EndOfStreamException("the echo target closed the connection mid round trip");
        }
    }

    /// <summary>Fills <paramref name="ticks"/> with the durations of as many round trips.</summary>
    private static async Task SampleAsync(Socket socket, byte[] buffer, Memory<long> ticks, CancellationToken cancellationToken)
    {
        for (var i = 0; i < ticks.Length; i++)
        {
            var started = Stopwatch.GetTimestamp();
            await RoundTripAsync(socket, buffer, cancellationToken);
            ticks.Span[i] = Stopwatch.GetTimestamp() - started;
        }
    }

    // End cleanly (FIN both ways) so the tunnel closes as a normal connection would.
    private static async Task CloseAsync(Socket socket, byte[] buffer, CancellationToken cancellationToken)
    {
        socket.Shutdown(SocketShutdown.Send);
        await SocketTransfers.ReceiveToEndAsync(socket, buffer, null, cancellationToken);
    }

    private static LatencySample Summarize(long[] ticks)
    {
        Array.Sort(ticks);
        return new LatencySample(Micros(Percentile(ticks, 0.50)), Micros(Percentile(ticks, 0.99)), Micros((long)ticks.Average()));
    }

    /// <summary>Nearest-rank percentile of sorted samples.</summary>
    private static long Percentile(long[] sorted, double fraction) =>
        sorted[Math.Clamp((int)Math.Ceiling(fraction * sorted.Length) - 1, 0, sorted.Length - 1)];

    private static double Micros(long ticks) => ticks * 1e6 / Stopwatch.Frequency;

    private sealed class Lane(BenchRoute route, Socket socket, int roundTrips)
    {
        public BenchRoute Route { get; } = route;

        public Socket Socket { get; } = socket;

        public long[] Ticks { get; } = new long[roundTrips];
    }
}
