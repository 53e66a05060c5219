using GitHubActionsPort.Broker.Audit;
using GitHubActionsPort.Broker.Draining;
using GitHubActionsPort.Broker.Hosting;
using GitHubActionsPort.Broker.Store;
using Prometheus;

namespace GitHubActionsPort.Broker.Telemetry;

/// <summary>
/// <c>/metrics</c> (Prometheus text format: every System.Diagnostics.Metrics instrument of the broker, through
/// prometheus-net's meter adapter) and <c>/healthz</c>, on their own small HTTP/1.1 server so a scraper never
/// touches the job-facing port. <c>/healthz</c> answers 503 <c>audit cannot write</c> while the audit trail cannot
/// be written, 503 <c>state store unreachable</c> while the state store cannot be reached (sessions and tunnels are
/// refused then), and <c>ok</c> again once both can; and 503 <c>draining</c> from the moment a stop begins, so a
/// balancer sends new connections elsewhere while open tunnels finish.
/// </summary>
internal sealed partial class MetricsEndpoint(MetricsSettings settings, AuditLog audit, StoreHealth store, BrokerDrain drain, ILoggerFactory loggerFactory) : IHostedService, IAsyncDisposable
{
    private SideServer? _server;

    /// <summary>Where it listens (port 0 resolved); null until started or when disabled.</summary>
    public Uri? Address { get; private set; }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!settings.Enabled)
        {
            return;
        }

        EnsureMeterAdapter();
        var logger = loggerFactory.CreateLogger<MetricsEndpoint>();
        _server = await SideServer.StartAsync(
            "metrics",
            "Broker:Metrics:Url",
            logger,
            settings.Address,
            settings.Url.Port,
            limits => limits.MaxRequestBodySize = 0,
            services: null,
            AnswerAsync,
            cancellationToken).ConfigureAwait(false);
        Address = _server.Address;
        Log.Listening(logger, Address);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_server is not null)
        {
            await _server.StopAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync().ConfigureAwait(false);
        }
    }

    // Our instruments only: listening to every meter in the process (Kestrel's, HttpClient's, ...) measured a quarter
    // of the relay's throughput lost to the exporter's bookkeeping.
    private async Task AnswerAsync(HttpContext context)
    {
        switch (context.Request.Path.Value)
        {
            case "/metrics":
                context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
                await Metrics.DefaultRegistry.CollectAndExportAsTextAsync(context.Response.Body, context.RequestAborted).ConfigureAwait(false);
                break;
            case "/healthz" when drain.IsDraining:
                context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                await context.Response.WriteAsync("draining\n", context.RequestAborted).ConfigureAwait(false);
                break;
            case "/healthz" when !audit.IsWritable:
                context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                await context.Response.WriteAsync("audit cannot write\n", context.RequestAborted).ConfigureAwait(false);
                break;
            case "/healthz" when !store.IsReachable:
                context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                await context.Response.WriteAsync("state store unreachable\n", context.RequestAborted).ConfigureAwait(false);
                break;
            case "/healthz":
                await context.Response.WriteAsync("ok\n", context.RequestAborted).ConfigureAwait(false);
                break;
            default:
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                break;
        }
    }

    private static readonly Lazy<IDisposable> MeterAdapterSubscription = new(() => MeterAdapter.StartListening(new MeterAdapterOptions
    {
        InstrumentFilterPredicate = instrument => instrument.Meter.Name.StartsWith("GitHubActionsPort.", StringComparison.Ordinal),
    }));

    /// <summary>prometheus-net's bridge from System.Diagnostics.Metrics; one per process, whatever the number of brokers.</summary>
    private static void EnsureMeterAdapter() => _ = MeterAdapterSubscription.Value;

    private static partial class Log
    {
        [LoggerMessage(80, LogLevel.Information, "Metrics and health on {Address}metrics and {Address}healthz", EventName = "MetricsListening")]
        public static partial void Listening(ILogger logger, Uri address);
    }
}
