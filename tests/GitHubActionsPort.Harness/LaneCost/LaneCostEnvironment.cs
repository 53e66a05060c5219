using GitHubActionsPort.Harness.Bench.Scenarios;
using GitHubActionsPort.Broker.DevIssuer;
using GitHubActionsPort.Harness.Output;

namespace GitHubActionsPort.Harness.LaneCost;

/// <summary>
/// A broker process listening on h2c and on TLS at once, an agent process per endpoint, and in the harness the dev
/// issuer and a sink and a source target. Both lanes reach the same broker process and the same targets, so the
/// only difference between them is TLS; broker and agents are processes of their own so their CPU time can be read.
/// With a baseline, a second broker from another build gets two lanes of its own (named with <c>-base</c>).
/// </summary>
internal sealed class LaneCostEnvironment : IAsyncDisposable
{
    public const string SinkTarget = "sink";
    public const string SourceTarget = "source";

    private const string ListeningPrefix = "listening ";

    private readonly Teardown _teardown;

    private LaneCostEnvironment(Teardown teardown, IReadOnlyList<Lane> lanes)
    {
        _teardown = teardown;
        Lanes = lanes;
    }

    /// <summary>h2c, then TLS, for this build, then for the baseline if any.</summary>
    public IReadOnlyList<Lane> Lanes { get; }

    /// <param name="narrator">Where teardown problems are told.</param>
    /// <param name="baselineBroker">Path of another build's <c>ghaport-broker.dll</c> to measure beside this one; null for none.</param>
    /// <param name="stopping">Ctrl-C.</param>
    public static async Task<LaneCostEnvironment> StartAsync(Narrator narrator, string? baselineBroker, CancellationToken stopping)
    {
        var teardown = new Teardown(narrator, narrate: false);
        try
        {
            var issuer = teardown.Add("issuer", await DevIssuer.StartAsync(cancellationToken: stopping).DefaultTimeout());
            var sink = teardown.Add("sink target", new TcpTestServer(BulkProtocol.SinkAsync));
            var source = teardown.Add("source target", new TcpTestServer(BulkProtocol.SourceAsync));
            var folder = teardown.Add("certificate folder", new TempFolder(Directory.CreateTempSubdirectory("ghaport-lane-cost-").FullName));

            using var ca = TestCertificates.CreateCa("ghaport lane-cost CA");
            using var certificate = TestCertificates.IssueServerCertificate(ca);
            var caPath = Path.Combine(folder.Path, "ca.pem");
            await File.WriteAllTextAsync(caPath, ca.ExportCertificatePem(), stopping);
            var certificatePath = Path.Combine(folder.Path, "broker.crt");
            var keyPath = Path.Combine(folder.Path, "broker.key");
            await TestCertificates.WritePemPairAsync(certificate, certificatePath, keyPath);

            var configuration = BrokerUnderTest.DefaultConfiguration(issuer.Issuer, new Dictionary<string, string>
            {
                [SinkTarget] = sink.Address,
                [SourceTarget] = source.Address,
            });
            configuration["Broker:Tls:CertificatePath"] = certificatePath;
            configuration["Broker:Tls:KeyPath"] = keyPath;
            configuration["Broker:Admin:Url"] = "http://127.0.0.1:0";
            configuration["Broker:Metrics:Url"] = "http://127.0.0.1:0";

            var builds = new List<(string Suffix, string Dll)> { (string.Empty, "ghaport-broker.dll") };
            if (baselineBroker is not null)
            {
                builds.Add(("-base", Path.GetFullPath(baselineBroker)));
            }

            var lanes = new List<Lane>();
            foreach (var (suffix, dll) in builds)
            {
                // A trail of its own per broker: one trail has one writer.
                configuration["Broker:Audit:Path"] = BrokerUnderTest.TempAuditPath();
                configuration["Broker:Store:Path"] = BrokerUnderTest.TempStorePath(configuration["Broker:Audit:Path"]!);
                // Environment variables rather than arguments: the broker reads them the same way, and they keep the
                // command line short. The harness's own Broker__ and ASPNETCORE_ settings are not passed on.
                var broker = teardown.Add("broker" + suffix, ChildProcess.Start(
                    dll,
                    ["--urls", "http://127.0.0.1:0;https://127.0.0.1:0"],
                    configuration.ToDictionary(e => e.Key.Replace(":", "__", StringComparison.Ordinal), e => e.Value),
                    inherit: name => !name.StartsWith("Broker__", StringComparison.OrdinalIgnoreCase) && !name.StartsWith("ASPNETCORE_", StringComparison.OrdinalIgnoreCase)));
                await broker.WaitForOutputAsync(line => line.StartsWith(ListeningPrefix, StringComparison.Ordinal), 2);
                var addresses = broker.Output.Lines
                    .Where(line => line.StartsWith(ListeningPrefix, StringComparison.Ordinal))
                    .Select(line => new Uri(line[ListeningPrefix.Length..].Trim()))
                    .ToList();

                foreach (var (kind, address, extraArgs) in new[]
                {
                    ("h2c", addresses.Single(a => a.Scheme == Uri.UriSchemeHttp), Array.Empty<string>()),
                    ("tls", addresses.Single(a => a.Scheme == Uri.UriSchemeHttps), ["--ca-cert", caPath]),
                })
                {
                    var args = new List<string> { "up", "--broker", address.ToString(), "--forward", $"0:{SinkTarget}", "--forward", $"0:{SourceTarget}" };
                    args.AddRange(extraArgs);
                    var agent = teardown.Add($"{kind}{suffix} agent", AgentProcess.Start(args, AgentUnderTest.GitHubEnvironment(issuer)));
                    await agent.WaitReadyAsync(2);
                    lanes.Add(new Lane(kind + suffix, kind, agent, broker));
                }
            }

            return new LaneCostEnvironment(teardown, lanes);
        }
        catch
        {
            await teardown.DisposeAsync();
            throw;
        }
    }

    public ValueTask DisposeAsync() => _teardown.DisposeAsync();

    /// <summary>One way to a broker: its name, h2c or tls, the agent that uses it, and the broker it reaches.</summary>
    internal sealed record Lane(string Name, string Kind, AgentProcess Agent, ChildProcess Broker);

    private sealed class TempFolder(string path) : IAsyncDisposable
    {
        public string Path { get; } = path;

        public ValueTask DisposeAsync()
        {
            Directory.Delete(Path, recursive: true);
            return ValueTask.CompletedTask;
        }
    }
}
