using System.Globalization;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace GitHubActionsPort.Tests;

/// <summary><c>/metrics</c> parses as Prometheus text and its counters move as a session runs; <c>/healthz</c> answers.</summary>
public sealed partial class MetricsTests : TunnelFixture
{
    /// <summary>A sample line of the text format: name, optional labels, value.</summary>
    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>[^}]*)\})? (?<value>[-+0-9.eE]+|NaN|[+-]Inf)( [0-9]+)?$")]
    private static partial Regex SampleLine();

    [Test]
    public async Task Metrics_ParseAsPrometheusText_AndMoveAsASessionRuns()
    {
        using var http = new HttpClient { Timeout = TaskTimeouts.Default };
        var before = await ScrapeAsync(http);

        await using (var agent = await StartAgentAsync("echo"))
        {
            using var client = await SocketIo.ConnectAsync(agent["echo"]);
            await client.SendAllAsync(new byte[4096]);
            client.Shutdown(SocketShutdown.Send);
            Assert.That(await client.ReadToEndAsync().DefaultTimeout(), Has.Length.EqualTo(4096));
            await Broker.Logs.WaitForAsync(e => e.EventId.Name == "TunnelClosed").DefaultTimeout();
        }

        var after = await ScrapeAsync(http);

        Assert.That(Sum(after, "ghaport_sessions", "granted") - Sum(before, "ghaport_sessions", "granted"), Is.GreaterThanOrEqualTo(1));
        Assert.That(Sum(after, "ghaport_tunnel_bytes", "from_socket") - Sum(before, "ghaport_tunnel_bytes", "from_socket"), Is.GreaterThanOrEqualTo(4096));
        Assert.That(Sum(after, "ghaport_target_dial_duration", "connected"), Is.GreaterThan(Sum(before, "ghaport_target_dial_duration", "connected")));
        Assert.That(await http.GetStringAsync(new Uri(Broker.MetricsAddress!, "/healthz")).DefaultTimeout(), Is.EqualTo("ok\n"));
    }

    [Test]
    public async Task GrpcHealthService_ReportsServing()
    {
        using var channel = Grpc.Net.Client.GrpcChannel.ForAddress(Broker.Address);
        var health = new Grpc.Health.V1.Health.HealthClient(channel);

        var reply = await health.CheckAsync(new Grpc.Health.V1.HealthCheckRequest()).ResponseAsync.DefaultTimeout();

        Assert.That(reply.Status, Is.EqualTo(Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving));
    }

    /// <summary>Every line is a comment or a well-formed sample; the samples, by name and labels.</summary>
    private async Task<List<(string Name, string Labels, double Value)>> ScrapeAsync(HttpClient http)
    {
        var text = await http.GetStringAsync(new Uri(Broker.MetricsAddress!, "/metrics")).DefaultTimeout();
        var samples = new List<(string, string, double)>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.StartsWith('#'))
            {
                Assert.That(line, Does.Match(@"^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* "), "a comment line of the text format");
                continue;
            }

            var match = SampleLine().Match(line);
            Assert.That(match.Success, Is.True, $"not a Prometheus sample line: {line}");
            samples.Add((match.Groups["name"].Value, match.Groups["labels"].Value, double.Parse(match.Groups["value"].Value, CultureInfo.InvariantCulture)));
        }

        return samples;
    }

    /// <summary>
    /// The total of the samples whose name holds <paramref name="instrument"/> (the exporter puts the meter's name in
    /// front) and whose labels mention <paramref name="label"/>.
    /// </summary>
    private static double Sum(List<(string Name, string Labels, double Value)> samples, string instrument, string label) =>
        samples.Where(s => s.Name.Contains(instrument, StringComparison.Ordinal) && !s.Name.EndsWith("_bucket", StringComparison.Ordinal) && s.Labels.Contains(label, StringComparison.Ordinal))
            .Sum(s => s.Value);
}
