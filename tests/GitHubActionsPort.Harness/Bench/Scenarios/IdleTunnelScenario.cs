using System.Globalization;
using System.Net;
using System.Net.Sockets;
using GitHubActionsPort.Harness.Bench.Routes;

namespace GitHubActionsPort.Harness.Bench.Scenarios;

/// <summary>
/// What an idle tunnel costs the broker in memory: connections through the agent to an echo target, each carrying
/// one byte there and back so its tunnel is open end to end, held while the broker's resident set is read. The
/// result per count is (RSS with them open - RSS before) / count, counts reached one after another on the same
/// connections (1,000, then 9,000 more for 10,000).
/// </summary>
internal sealed class IdleTunnelScenario(IReadOnlyList<int> counts, int concurrency)
{
    /// <summary>The most idle tunnels the bench holds: the most one lease may have (a rule's <c>MaxConnections</c> cap).</summary>
    public const int MostTunnels = 10_000;

    // Headroom over the sockets the tunnels themselves hold: listeners, HTTP/2 connections, the runtime's own files.
    private const int DescriptorHeadroom = 1_000;

    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(60);

    /// <summary>The counts this process can hold with its open-file limit; the rest are reported as not measured.</summary>
    public IReadOnlyList<int> Counts { get; } = counts.Where(c => c is > 0 and <= MostTunnels).Order().ToList();

    public static string Name(int count) => $"broker RSS per idle tunnel ({count:N0} open)";

    /// <summary>Echoes with a buffer of a few bytes: ten thousand idle targets must not hold 64 KiB each in the harness.</summary>
    public static async Task EchoAsync(Socket socket, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(socket);
        var buffer = new byte[16];
        while (true)
        {
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
            if (read == 0)
            {
                socket.Shutdown(SocketShutdown.Send);
                return;
            }

            await socket.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, cancellationToken);
        }
    }

    /// <summary>
    /// Null when every process involved can hold <paramref name="count"/> tunnels of <paramref name="route"/> within
    /// the open-file limit they all share, else why not. Per tunnel the harness holds the client's socket and the
    /// echo target process the target's; the agent and the broker hold one socket each on the gRPC lane (tunnels
    /// share HTTP/2 connections) and two on the raw lane (its own connection to the broker per tunnel). An agent
    /// run in-process adds its share to the harness's.
    /// </summary>
    public static string? WhyNot(int count, BenchRoute route)
    {
        ArgumentNullException.ThrowIfNull(route);
        if (FileDescriptorLimit.Current() is not { } limit)
        {
            return null;
        }

        var agent = route.Spec.Lane == RouteSpec.RawLane ? 2 : 1;
        var harness = 1 + (route.Processes is { RunnerSide.Count: 0 } ? agent : 0);
        var needed = (long)count * Math.Max(agent, harness) + DescriptorHeadroom;
        return needed <= limit
            ? null
            : string.Create(CultureInfo.InvariantCulture, $"{count:N0} tunnels through {route.Spec.Label} need about {needed:N0} open files in one process, over the limit of {limit:N0}; raise the hard limit (as root with CAP_SYS_RESOURCE the bench does it: prlimit --nofile={FileDescriptorLimit.Wanted}:{FileDescriptorLimit.Wanted}) and run again");
    }

    /// <summary>Broker RSS before and at each count reached, and why a count was not reached; throws only when nothing could be measured.</summary>
    public async Task<IdleTunnelReading> MeasureAsync(BenchRoute route, CancellationToken stopping)
    {
        ArgumentNullException.ThrowIfNull(route);
        var idle = route.Idle ?? throw new InvalidOperationException($"route {route.Key} has no idle target");
        var processes = route.Processes ?? throw new InvalidOperationException($"route {route.Key} has no broker");
        var broker = processes.Broker ?? throw new InvalidOperationException($"route {route.Key} has no broker");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        timeout.CancelAfter(Timeout);

        if (processes.BrokerMetrics is { } metrics && !await BrokerTunnelGauge.WaitForNoneAsync(metrics, DrainTimeout, timeout.Token))
        {
            throw new InvalidOperationException($"the broker still had tunnels open {DrainTimeout.TotalSeconds:0} s after the last scenario");
        }

        var before = ProcStats.ResidentBytes(broker) ?? throw new InvalidOperationException("the broker's VmRSS cannot be read");
        var sockets = new List<Socket>(Counts.Count == 0 ? 0 : Counts[^1]);
        var levels = new List<IdleTunnelLevel>();
        Exception? failure = null;
        var openWhenFailed = 0;
        try
        {
            foreach (var count in Counts)
            {
                await OpenAsync(idle, sockets, count - sockets.Count, timeout.Token);
                var rss = ProcStats.ResidentBytes(broker) ?? throw new InvalidOperationException("the broker's VmRSS cannot be read");
                levels.Add(new IdleTunnelLevel(count, rss, (rss - before) / (double)count));
            }
        }
        catch (Exception ex) when (!stopping.IsCancellationRequested)
        {
            // The counts already reached stand; the caller reports why the next one was not.
            failure = ex;
            openWhenFailed = sockets.Count;
        }
        finally
        {
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }
        }

        // Leave a quiet broker behind: its tunnels closing (audit records, teardown) would be noise for whatever runs next.
        if (processes.BrokerMetrics is { } after)
        {
            await BrokerTunnelGauge.WaitForNoneAsync(after, DrainTimeout, timeout.Token);
        }

        return new IdleTunnelReading(before, levels, failure, openWhenFailed);
    }

    private async Task OpenAsync(IPEndPoint idle, List<Socket> sockets, int more, CancellationToken cancellationToken)
    {
        var claimed = 0;
        var opened = new Socket[more];
        async Task WorkAsync()
        {
            var buffer = new byte[1];
            int index;
            while ((index = Interlocked.Increment(ref claimed) - 1) < more)
            {
                var socket = await SocketIo.ConnectAsync(idle);
                opened[index] = socket;
                await LatencyScenario.RoundTripAsync(socket, buffer, cancellationToken);
            }
        }

        try
        {
            await Task.WhenAll(Enumerable.Range(0, Math.Min(concurrency, Math.Max(more, 1))).Select(_ => WorkAsync()));
        }
        finally
        {
            sockets.AddRange(opened.Where(s => s is not null));
        }
    }
}
