using System.Diagnostics;
using System.Globalization;
using GitHubActionsPort.Agent.Forwarding;
using GitHubActionsPort.Protocol.V1;
using Google.Protobuf;
using BrokerClient = GitHubActionsPort.Protocol.V1.Broker.BrokerClient;

namespace GitHubActionsPort.Tests;

/// <summary>
/// What the number of tunnel connections does (<see cref="AgentTransport.TunnelConnections"/>): echo round trips
/// while another tunnel uploads flat out, and four uploads at once, for 1, 2 and 4 connections, alternating round
/// by round. Prints numbers and asserts none of them: run it by hand
/// (<c>dotnet test --filter FullyQualifiedName~BrokerChannelMeasurements</c>).
/// </summary>
[Explicit("a measurement, not a test: it prints timings and asserts nothing on them")]
public sealed class BrokerChannelMeasurements : TunnelFixture
{
    private static readonly int[] ConnectionCounts = [1, 2, 4];
    private const int Rounds = 5;
    private const int RoundTrips = 300;
    private const int EchoSize = 1024;
    private const int Uploads = 4;
    private const long BytesPerUpload = 256L * 1024 * 1024;

    private readonly CountingSink _sink = new();

    protected override Dictionary<string, string> ExtraTargets() => new() { ["sink"] = _sink.Server.Address };

    [OneTimeTearDown]
    public Task StopSinkAsync() => _sink.Server.DisposeAsync().AsTask();

    [Test]
    public async Task EchoUnderLoad_AndParallelUploads_ByConnectionCount()
    {
        var results = ConnectionCounts.ToDictionary(n => n, _ => new List<(double P50, double P99, double MBps)>());
        for (var round = 0; round < Rounds; round++)
        {
            var order = round % 2 == 0 ? ConnectionCounts : ConnectionCounts.Reverse().ToArray();
            foreach (var connections in order)
            {
                using var channel = BrokerChannel.Create(Broker.Address, new AgentTransport { TunnelConnections = connections }, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
                using var session = await RawSession.OpenAsync(new BrokerClient(channel), Issuer.MintToken("ghaport"), ["sink", "echo"]);
                var (p50, p99) = await EchoUnderLoadAsync(channel, session);
                var rate = await ParallelUploadsAsync(channel, session);
                results[connections].Add((p50, p99, rate));
                await TestContext.Progress.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"round {round + 1}, {connections} connection(s): echo under load p50 {p50:N0} us, p99 {p99:N0} us; {Uploads} uploads {rate:N0} MB/s"));
            }
        }

        foreach (var (connections, list) in results)
        {
            await TestContext.Progress.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"median, {connections} connection(s): echo p50 {Median(list.Select(r => r.P50)):N0} us, p99 {Median(list.Select(r => r.P99)):N0} us; {Uploads} uploads {Median(list.Select(r => r.MBps)):N0} MB/s"));
        }
    }

    private async Task<(double P50, double P99)> EchoUnderLoadAsync(BrokerChannel channel, RawSession session)
    {
        using var bulkConnection = channel.ForTunnel();
        using var bulk = await TunnelCalls.ConnectAsync(bulkConnection, session, "sink");
        using var stop = new CancellationTokenSource();
        var busy = _sink.WhenTaken(_sink.Taken + (16L * 1024 * 1024));
        var uploading = TunnelCalls.UploadUntilStoppedAsync(bulk, stop.Token);
        await busy.DefaultTimeout();

        using var echoConnection = channel.ForTunnel();
        using var echo = await TunnelCalls.ConnectAsync(echoConnection, session, "echo");
        var data = ByteString.CopyFrom(SocketIo.RandomBytes(EchoSize));
        var microseconds = new List<double>(RoundTrips);
        for (var i = 0; i < RoundTrips; i++)
        {
            var started = Stopwatch.GetTimestamp();
            await echo.RequestStream.WriteAsync(new TunnelFrame { Data = data }).DefaultTimeout();
            await TunnelCalls.ReadAsync(echo, EchoSize).DefaultTimeout();
            microseconds.Add(Stopwatch.GetElapsedTime(started).TotalMicroseconds);
        }

        await TunnelCalls.EndAsync(echo).DefaultTimeout();
        await stop.CancelAsync();
        await uploading.DefaultTimeout();
        await TunnelCalls.EndAsync(bulk).DefaultTimeout();
        microseconds.Sort();
        return (microseconds[RoundTrips / 2], microseconds[(RoundTrips * 99 / 100) - 1]);
    }

    private static async Task<double> ParallelUploadsAsync(BrokerChannel channel, RawSession session)
    {
        var connections = Enumerable.Range(0, Uploads).Select(_ => channel.ForTunnel()).ToList();
        try
        {
            var calls = new List<Grpc.Core.AsyncDuplexStreamingCall<TunnelFrame, TunnelFrame>>();
            foreach (var connection in connections)
            {
                calls.Add(await TunnelCalls.ConnectAsync(connection, session, "sink"));
            }

            var started = Stopwatch.GetTimestamp();
            await Task.WhenAll(calls.Select(call => TunnelCalls.UploadAsync(call, BytesPerUpload))).WithTimeout(TimeSpan.FromMinutes(2));
            await Task.WhenAll(calls.Select(call => TunnelCalls.EndAsync(call))).DefaultTimeout();
            var elapsed = Stopwatch.GetElapsedTime(started);
            calls.ForEach(c => c.Dispose());
            return Uploads * BytesPerUpload / elapsed.TotalSeconds / 1e6;
        }
        finally
        {
            connections.ForEach(c => c.Dispose());
        }
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }
}
