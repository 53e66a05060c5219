using GitHubActionsPort.Broker.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace GitHubActionsPort.TestSupport;

/// <summary>
/// A real broker on Kestrel at 127.0.0.1:0 (or a given URL, to start a broker again where one stopped), configured
/// like a deployment: the given issuer, targets and one rule that lets the dev issuer's default identity
/// (repository acme/app) reach every target.
/// </summary>
public sealed class BrokerUnderTest : IAsyncDisposable
{
    /// <summary>How long a stop waits for open connections to finish before it aborts them: well inside the test's bound.</summary>
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(15);

    private readonly WebApplication _app;

    private BrokerUnderTest(WebApplication app, LogSink logs)
    {
        _app = app;
        Logs = logs;
        Address = app.Addresses()[0];
        AdminAddress = app.AdminAddress();
        MetricsAddress = app.MetricsAddress();
        RawLaneAddress = app.RawLaneAddress();
    }

    public Uri Address { get; }

    /// <summary>The admin endpoint (on a port from the OS unless the configuration names one); null when disabled.</summary>
    public Uri? AdminAddress { get; }

    /// <summary>Where the raw lane listens (a port from the OS, like the broker's); null when it is off.</summary>
    public Uri? RawLaneAddress { get; }

    /// <summary>Where <c>/metrics</c> and <c>/healthz</c> are served.</summary>
    public Uri? MetricsAddress { get; }

    public LogSink Logs { get; }

    public IServiceProvider Services => _app.Services;

    /// <summary>Configuration for an issuer, targets, and a rule <c>acme/app</c> may use for them all.</summary>
    public static Dictionary<string, string?> DefaultConfiguration(string issuer, IReadOnlyDictionary<string, string> targets)
    {
        ArgumentNullException.ThrowIfNull(targets);
        var config = new Dictionary<string, string?>
        {
            ["Broker:Issuers:0:Issuer"] = issuer,
            ["Broker:Issuers:0:Audiences:0"] = "ghaport",
            ["Broker:Rules:0:Name"] = "tests",
            ["Broker:Rules:0:Issuer"] = issuer,
            ["Broker:Rules:0:Claims:repository"] = "acme/app",
        };
        var i = 0;
        foreach (var (name, address) in targets)
        {
            config[$"Broker:Targets:{name}"] = address;
            config[$"Broker:Rules:0:Targets:{i++}"] = name;
        }

        return config;
    }

    /// <param name="configuration">The broker's configuration, as <see cref="DefaultConfiguration"/> makes it.</param>
    /// <param name="echo">Where to copy its log records too.</param>
    /// <param name="url">Where to listen. Default: <c>http://127.0.0.1:0</c>, a port from the OS; a restart passes the <see cref="Address"/> of the broker it replaces.</param>
    /// <param name="services">Registrations that win over the broker's own (brokers in one process sharing one state store).</param>
    public static async Task<BrokerUnderTest> StartAsync(
        IReadOnlyDictionary<string, string?> configuration, TextWriter? echo = null, Uri? url = null, Action<IServiceCollection>? services = null)
    {
        var logs = new LogSink { Echo = echo };
        var listen = url ?? new Uri("http://127.0.0.1:0");
        // Every listener on a port from the OS: the fixed default ports (admin 8471, raw lane 8472, metrics 9471) would
        // collide between brokers and with a broker already running on this host. A restart at a given address would
        // otherwise put its raw lane on 8472, since the lane's default follows a broker port that is not 0. A test that
        // wants a fixed port says so.
        var overrides = new Dictionary<string, string?>(configuration);
        overrides.TryAdd("Broker:Admin:Url", "http://127.0.0.1:0");
        overrides.TryAdd("Broker:Metrics:Url", "http://127.0.0.1:0");
        overrides.TryAdd("Broker:Lanes:Raw:Url", $"{listen.Scheme}://{listen.Host}:0");
        // Every test's calls come from 127.0.0.1, and some fixtures present dozens of bad id-tokens on purpose: the
        // per-address allowance would turn their answers into ResourceExhausted. A test of the allowance sets its own.
        overrides.TryAdd("Broker:Transport:MaxSessionFailuresPerSource", "1000000");
        // A test broker stops as a broker did before draining existed, ending its tunnels at once: a test that stops
        // it with a tunnel open would otherwise wait out the drain. Tests of the drain set their own.
        overrides.TryAdd("Broker:Transport:DrainTimeout", "0");
        // A trail of its own per broker: tests run many brokers, and one trail has one writer.
        var audit = TempAuditPath();
        overrides.TryAdd("Broker:Audit:Path", audit);
        // The broker's state in the default store (sqlite) beside its trail, a file of its own: tests run many brokers.
        // A test sharing one store between brokers registers it through services, which wins over this.
        if (!overrides.TryGetValue("Broker:Store:Kind", out var kind) || string.Equals(kind, "sqlite", StringComparison.OrdinalIgnoreCase))
        {
            overrides.TryAdd("Broker:Store:Path", TempStorePath(audit));
        }
        var app = BrokerHost.Build(
            ["--urls", listen.GetLeftPart(UriPartial.Authority)],
            overrides: overrides,
            logging: logging =>
            {
                logging.ClearProviders();
                logging.AddProvider(logs);
                logging.SetMinimumLevel(LogLevel.Debug);
            },
            services: services);
        await app.StartAsync().DefaultTimeout().ConfigureAwait(false);
        return new BrokerUnderTest(app, logs);
    }

    /// <summary>A fresh audit trail path under the temp folder.</summary>
    public static string TempAuditPath() =>
        Path.Combine(Path.GetTempPath(), "ghaport-audit-" + Guid.NewGuid().ToString("N"), "audit.jsonl");

    /// <summary>A state store file beside the audit trail at <paramref name="auditPath"/> (its folder is the test's own).</summary>
    public static string TempStorePath(string auditPath) => Path.Combine(Path.GetDirectoryName(auditPath)!, "broker-state.db");

    public async ValueTask DisposeAsync()
    {
        // Past StopGrace the host stops waiting for connections to close by themselves and aborts them. Without it a
        // peer that holds a stream open (one that never reads, a flood's leftovers) holds the stop for the host's own
        // shutdown timeout, which is as long as the bound below: the stop would race the test's own wait.
        using var abortAfter = new CancellationTokenSource(StopGrace);
        await _app.StopAsync(abortAfter.Token).WithTimeout(TaskTimeouts.Default).ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
