using System.Diagnostics;
using System.Net.Sockets;
using GitHubActionsPort.Harness.Bench.Routes;

namespace GitHubActionsPort.Harness.Bench.Scenarios;

/// <summary>
/// Bulk throughput, one direction at a time: <paramref name="streams"/> connections each move
/// <paramref name="bytesPerStream"/> bytes at once. The clock runs from the first byte sent until the last stream
/// has confirmed its count (connections are opened before it starts), and the result is the aggregate payload
/// rate in MB/s (10^6 bytes per second).
/// </summary>
internal sealed class ThroughputScenario(TransferDirection direction, int streams, long bytesPerStream)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    public string Name => $"{(streams == 1 ? "1 stream" : $"{streams} streams")}, {(direction == TransferDirection.Upload ? "upload" : "download")}";

    public long TotalBytes => streams * bytesPerStream;

    public async Task<double> MeasureAsync(BenchRoute route, CancellationToken stopping)
    {
        ArgumentNullException.ThrowIfNull(route);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        timeout.CancelAfter(Timeout);
        var target = direction == TransferDirection.Upload ? route.Sink : route.Source;

        var sockets = new List<Socket>(streams);
        try
        {
            for (var i = 0; i < streams; i++)
            {
                sockets.Add(await SocketIo.ConnectAsync(target));
            }

            var started = Stopwatch.GetTimestamp();
            await Task.WhenAll(sockets.Select(socket => direction == TransferDirection.Upload
                ? BulkProtocol.UploadAsync(socket, bytesPerStream, timeout.Token)
                : BulkProtocol.DownloadAsync(socket, bytesPerStream, timeout.Token)));
            return TotalBytes / Stopwatch.GetElapsedTime(started).TotalSeconds / 1e6;
        }
        finally
        {
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }
        }
    }
}
