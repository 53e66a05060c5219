using System.Diagnostics;
using System.Net.Sockets;

namespace GitHubActionsPort.Harness.Bench;

/// <summary>
/// Request/response latency, the cost a chatty protocol (a database driver) pays per query: one connection per
/// route to the echo target, one byte out and the same byte back, each round trip waiting for the one before, so
/// nothing is pipelined. Both routes are sampled in alternating blocks, so a noisy moment on a small machine
/// lands on both alike instead of skewing their ratio.
/// </summary>
internal sealed class LatencyScenario(TimeSpan warmUp, int roundTrips)
{
    private const int Blocks = 10;
    private const int WarmUpBatch = 100;
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(1);

    public string Name => $"1-byte echo round trip ({roundTrips:N0} on one connection)";

    public async Task<(LatencySample Direct, LatencySample Tunnel)> CompareAsync(BenchRoute direct, BenchRoute tunnel, CancellationToken stopping)
    {
        ArgumentNullException.ThrowIfNull(direct);
        ArgumentNullException.ThrowIfNull(tunnel);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        timeout.CancelAfter(Timeout);
        var cancellationToken = timeout.Token;

        using var directSocket = await SocketIo.ConnectAsync(direct.Echo);
        using var tunnelSocket = await SocketIo.ConnectAsync(tunnel.Echo);
        var buffer = new byte[1];

        // By time, not count: tiered JIT recompiles hot methods in the background only after they have been hot
        // for a while, and on two cores that compile visibly stalls round trips until it is done.
        var warmingUp = Stopwatch.StartNew();
        var discarded = new long[WarmUpBatch];
        while (warmingUp.Elapsed < warmUp)
        {
            await SampleAsync(directSocket, buffer, discarded, cancellationToken);
            await SampleAsync(tunnelSocket, buffer, discarded, cancellationToken);
        }

        var directTicks = new long[roundTrips];
        var tunnelTicks = new long[roundTrips];
        var blockSize = (roundTrips + Blocks - 1) / Blocks;
        for (var start = 0; start < roundTrips; start += blockSize)
        {
            var length = Math.Min(blockSize, roundTrips - start);
            await SampleAsync(directSocket, buffer, directTicks.AsMemory(start, length), cancellationToken);
            await SampleAsync(tunnelSocket, buffer, tunnelTicks.AsMemory(start, length), cancellationToken);
        }

        await CloseAsync(directSocket, buffer, cancellationToken);
        await CloseAsync(tunnelSocket, buffer, cancellationToken);
        return (Summarize(directTicks), Summarize(tunnelTicks));
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
}
