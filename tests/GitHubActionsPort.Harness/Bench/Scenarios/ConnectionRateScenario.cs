using System.Diagnostics;
using System.Net.Sockets;
using GitHubActionsPort.Harness.Bench.Routes;

namespace GitHubActionsPort.Harness.Bench.Scenarios;

/// <summary>
/// How fast short connections are served, as a test suite opening one per test would see it: connect, one byte
/// echoed, then a clean close (our FIN, then the target's FIN back through the tunnel, so a connection counts only
/// once the tunnel has carried both ends), with <paramref name="concurrency"/> connections in flight until
/// <paramref name="connections"/> are done.
/// </summary>
internal sealed class ConnectionRateScenario(int connections, int concurrency)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    public string Name => $"new connections ({connections:N0}, {concurrency} at a time)";

    public async Task<double> MeasureAsync(BenchRoute route, CancellationToken stopping)
    {
        ArgumentNullException.ThrowIfNull(route);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        timeout.CancelAfter(Timeout);
        var cancellationToken = timeout.Token;
        var claimed = 0;

        async Task WorkAsync()
        {
            var buffer = new byte[1];
            while (Interlocked.Increment(ref claimed) <= connections)
            {
                using var socket = await SocketIo.ConnectAsync(route.Echo);
                await LatencyScenario.RoundTripAsync(socket, buffer, cancellationToken);
                socket.Shutdown(SocketShutdown.Send);
                if (await SocketTransfers.ReceiveToEndAsync(socket, buffer, null, cancellationToken) != 0)
                {
                    throw new InvalidDataException("the echo target sent bytes nobody asked for");
                }
            }
        }

        var started = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => WorkAsync()));
        return connections / Stopwatch.GetElapsedTime(started).TotalSeconds;
    }
}
