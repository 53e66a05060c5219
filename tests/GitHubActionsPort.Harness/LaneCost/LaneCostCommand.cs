using GitHubActionsPort.Harness.Bench.Scenarios;
using System.Diagnostics;
using System.Globalization;
using GitHubActionsPort.Harness.Output;

namespace GitHubActionsPort.Harness.LaneCost;

/// <summary>
/// <c>ghaport-harness lane-cost</c>: what TLS costs the gRPC lane. One bulk transfer at a time through one tunnel,
/// upload (client -> agent -> broker -> target) and download, over h2c and over TLS to the same broker process,
/// alternating lanes run by run so a noisy moment hurts both alike. Reports the rate and the CPU seconds per GB
/// each process spent. Nothing is asserted on the numbers.
/// </summary>
internal sealed class LaneCostCommand(LaneCostOptions options, TextWriter output, TextWriter error) : IHarnessCommand
{
    private const long MiB = 1024 * 1024;
    private static readonly TimeSpan TransferTimeout = TimeSpan.FromMinutes(5);

    private readonly Narrator _narrator = new(output, error);

    public async Task<bool> RunAsync(CancellationToken stopping)
    {
        _narrator.Title($"ghaport lane-cost: one tunnel, {options.MiB} MiB each way, h2c against TLS, {options.Runs} rounds.");
        var samples = new Dictionary<(string Lane, TransferDirection Direction), List<LaneSample>>();
        try
        {
            _narrator.Step("setup", "dev issuer and targets in-process; broker (h2c + TLS endpoints) and one agent per endpoint as processes");
            await using var environment = await LaneCostEnvironment.StartAsync(_narrator, options.BaselineBroker, stopping);
            _narrator.Detail(string.Join("; ", environment.Lanes.Select(l => $"{l.Name} broker pid {l.Broker.Id} agent pid {l.Agent.Id}")));

            _narrator.Step("warm-up", "64 MiB each way per lane (JIT, pools, TCP and HTTP/2 windows)");
            var measured = environment.Lanes.Where(l => options.Lane is null || l.Kind == options.Lane).ToList();
            foreach (var lane in measured)
            {
                foreach (var direction in Directions)
                {
                    await MeasureAsync(lane, direction, 64 * MiB, stopping);
                }
            }

            for (var run = 0; run < options.Runs; run++)
            {
                // Each round flips which lane goes first, so neither always follows the other's garbage.
                var lanes = run % 2 == 0 ? measured : measured.AsEnumerable().Reverse().ToList();
                foreach (var direction in Directions)
                {
                    foreach (var lane in lanes)
                    {
                        var sample = await MeasureAsync(lane, direction, options.MiB * MiB, stopping);
                        _narrator.Step("measure", string.Create(CultureInfo.InvariantCulture,
                            $"round {run + 1} {lane.Name,-8} {Name(direction),-8} {sample.MegabytesPerSecond,7:N0} MB/s  broker {sample.BrokerCpuPerGb:N2}  agent {sample.AgentCpuPerGb:N2}  harness {sample.HarnessCpuPerGb:N2} CPU-s/GB"));
                        var key = (lane.Name, direction);
                        if (!samples.TryGetValue(key, out var list))
                        {
                            samples[key] = list = [];
                        }

                        list.Add(sample);
                    }
                }
            }
        }
        catch (Exception ex) when (!stopping.IsCancellationRequested)
        {
            _narrator.Fail("lane-cost", _narrator.CurrentStep, ex);
            return false;
        }

        _narrator.Blank();
        _narrator.Line($"{"median of " + options.Runs,-19}{"MB/s",9}  {"broker CPU-s/GB",15}  {"agent CPU-s/GB",14}  {"harness CPU-s/GB",16}");
        foreach (var ((lane, direction), list) in samples.OrderBy(s => s.Key.Direction).ThenBy(s => s.Key.Lane, StringComparer.Ordinal))
        {
            _narrator.Line(string.Create(CultureInfo.InvariantCulture,
                $"{lane,-8} {Name(direction),-8}  {Median(list, s => s.MegabytesPerSecond),9:N0}  {Median(list, s => s.BrokerCpuPerGb),15:N2}  {Median(list, s => s.AgentCpuPerGb),14:N2}  {Median(list, s => s.HarnessCpuPerGb),16:N2}"));
        }

        return true;
    }

    private IEnumerable<TransferDirection> Directions =>
        options.Direction is { } only ? [only] : [TransferDirection.Upload, TransferDirection.Download];

    private static string Name(TransferDirection direction) => direction == TransferDirection.Upload ? "upload" : "download";

    private static async Task<LaneSample> MeasureAsync(LaneCostEnvironment.Lane lane, TransferDirection direction, long bytes, CancellationToken stopping)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        timeout.CancelAfter(TransferTimeout);
        var target = direction == TransferDirection.Upload ? LaneCostEnvironment.SinkTarget : LaneCostEnvironment.SourceTarget;
        using var socket = await SocketIo.ConnectAsync(lane.Agent.Forwards[target]);

        var broker0 = ProcessCpu.Of(lane.Broker.Id);
        var agent0 = ProcessCpu.Of(lane.Agent.Id);
        var harness0 = ProcessCpu.Of(Environment.ProcessId);
        var started = Stopwatch.GetTimestamp();
        await (direction == TransferDirection.Upload
            ? BulkProtocol.UploadAsync(socket, bytes, timeout.Token)
            : BulkProtocol.DownloadAsync(socket, bytes, timeout.Token));
        var elapsed = Stopwatch.GetElapsedTime(started);
        var gigabytes = bytes / 1e9;
        return new LaneSample(
            bytes / elapsed.TotalSeconds / 1e6,
            (ProcessCpu.Of(lane.Broker.Id) - broker0).TotalSeconds / gigabytes,
            (ProcessCpu.Of(lane.Agent.Id) - agent0).TotalSeconds / gigabytes,
            (ProcessCpu.Of(Environment.ProcessId) - harness0).TotalSeconds / gigabytes);
    }

    private static double Median(List<LaneSample> samples, Func<LaneSample, double> value)
    {
        var sorted = samples.Select(value).Order().ToList();
        var middle = sorted.Count / 2;
        return sorted.Count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }
}
