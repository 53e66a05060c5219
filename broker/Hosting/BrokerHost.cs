using GitHubActionsPort.Broker.Admin;
using GitHubActionsPort.Broker.Audit;
using GitHubActionsPort.Broker.Telemetry;
using GitHubActionsPort.Broker.Auth;
using GitHubActionsPort.Broker.Configuration;
using GitHubActionsPort.Broker.Connections;
using GitHubActionsPort.Broker.Draining;
using GitHubActionsPort.Broker.Leases;
using GitHubActionsPort.Broker.Policy;
using GitHubActionsPort.Broker.RawLane;
using GitHubActionsPort.Broker.Services;
using GitHubActionsPort.Broker.Store;
using GitHubActionsPort.Broker.Tls;
using GitHubActionsPort.Broker.Tunnels;
using GitHubActionsPort.Protocol;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration.CommandLine;
using Microsoft.Extensions.Configuration.EnvironmentVariables;
using Microsoft.Extensions.Configuration.Memory;

namespace GitHubActionsPort.Broker.Hosting;

/// <summary>Builds the broker's web host: configuration read and validated first, then Kestrel and gRPC.</summary>
public static class BrokerHost
{
    /// <summary>Where the broker listens when neither <c>--urls</c> nor <c>Kestrel:Endpoints</c> says.</summary>
    public const string DefaultUrl = "http://127.0.0.1:8470";

    /// <summary>
    /// Builds the broker. <paramref name="configFiles"/> (the <c>--config</c> files) rank below environment
    /// variables and the command line, as appsettings.json does, so either can override a file's value;
    /// <paramref name="overrides"/> rank above everything (the dev issuer, tests), <paramref name="defaults"/> below everything. Throws
    /// <see cref="BrokerConfigurationException"/> naming every bad key. <paramref name="services"/> registers last, so
    /// its registrations win (tests: brokers in one process sharing one state store).
    /// </summary>
    public static WebApplication Build(
        string[] args,
        IReadOnlyList<string>? configFiles = null,
        IReadOnlyDictionary<string, string?>? overrides = null,
        Action<ILoggingBuilder>? logging = null,
        IReadOnlyDictionary<string, string?>? defaults = null,
        Action<IServiceCollection>? services = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        if (defaults is { Count: > 0 })
        {
            // Below every other source: a value derived for convenience (dev's side ports) never outranks one set on purpose.
            builder.Configuration.Sources.Insert(0, new MemoryConfigurationSource { InitialData = defaults });
        }

        AddConfigFiles(builder.Configuration, configFiles ?? []);
        if (overrides is not null)
        {
            builder.Configuration.AddInMemoryCollection(overrides);
        }

        // Last of the sources: from here on every key looked up is recorded, and a key given that nothing looks up
        // is an error (UnknownKeys) rather than a typo ignored in silence.
        UnknownKeys.Track(builder.Configuration);

        // Every section is read before an error stops start-up, so one attempt names every bad key, unknown ones too.
        var errors = new List<string>();
        var settings = ReadSection(errors, BrokerSettingsReader.Read, builder.Configuration);
        var admin = ReadSection(errors, AdminSettings.Read, builder.Configuration);
        var store = ReadSection(errors, StoreSettingsReader.Read, builder.Configuration);
        ReadSection(errors, AuditServiceCollectionExtensions.ReadOptions, builder.Configuration);
        ReadSection(errors, MetricsSettings.Read, builder.Configuration);
        var tlsErrors = errors.Count;
        var certificates = ReadSection(errors, CertificateSource.Load, builder.Configuration);
        var tlsNamed = certificates is not null || errors.Count > tlsErrors;
        var lanes = ReadSection(errors, c => LaneSettings.Read(c, tlsNamed), builder.Configuration);
        if (errors.Count > 0)
        {
            throw new BrokerConfigurationException([.. errors, .. UnknownKeys.Find(builder.Configuration)]);
        }

        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
        });
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Grpc", LogLevel.Warning);
        builder.Logging.AddFilter("System.Net.Http.HttpClient", LogLevel.Warning);
        // The one health check is the drain's: a draining broker answers NotServing by design and says it is draining
        // itself, so the check service's Error line for every probe of it would only alarm whoever reads the log.
        builder.Logging.AddFilter("Microsoft.Extensions.Diagnostics.HealthChecks", LogLevel.Critical);
        logging?.Invoke(builder.Logging);

        // One binary, three ways to run: each integration does nothing unless it detects its service manager, so a
        // console run is unchanged. Under systemd: Type=notify (READY=1/STOPPING=1 to NOTIFY_SOCKET), SIGTERM as a stop,
        // and journal-formatted console lines (registered after AddSimpleConsole so its formatter wins). Under the
        // Windows SCM: the service lifetime and the event log (source "ghaport-broker"); the package guards every
        // Windows-only call itself, so nothing Windows-only runs on Unix and nothing Unix-only runs on Windows.
        builder.Services.AddSystemd();
        builder.Services.AddWindowsService(o => o.ServiceName = "ghaport-broker");

        builder.Services.AddSingleton(settings!);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddIdTokenValidation();
        builder.Services.AddBrokerPolicy();
        builder.Services.AddBrokerStore(store!);
        builder.Services.AddBrokerLeases();
        builder.Services.AddBrokerAudit(builder.Configuration);
        builder.Services.AddBrokerMetrics(builder.Configuration);
        builder.Services.AddBrokerDrain(settings!.Transport);
        // Checked when asked rather than from a cache filled every few seconds: a new broker answers Serving at once,
        // and a draining one NotServing at once.
        builder.Services.AddGrpcHealthChecks(o => o.UseHealthChecksCache = false)
            .AddCheck<DrainHealthCheck>("broker");
        // One guard for the job-facing listeners (gRPC port and raw lane): they share Broker:Transport:MaxConnections.
        builder.Services.AddSingleton(sp => new ConnectionGuard(
            JobFacingGuard(settings!.Transport),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILoggerFactory>().CreateLogger<ConnectionGuard>()));
        builder.Services.AddSingleton<TargetDialer>();
        builder.Services.AddSingleton<TunnelAdmission>();
        builder.Services.AddSingleton<TunnelGate>();
        // Slots given back while the store was out of reach are given back once it returns.
        builder.Services.AddSingleton<IStoreChangeListener>(sp => sp.GetRequiredService<TunnelGate>());
        builder.Services.AddBrokerAdmin(admin!);

        builder.Services.AddGrpc(grpc =>
        {
            grpc.MaxReceiveMessageSize = WireLimits.MaxMessageSize;
            grpc.MaxSendMessageSize = WireLimits.MaxMessageSize;
            grpc.EnableDetailedErrors = false;
        });

        KestrelTlsExtensions.RequireCertificateForHttps(builder.Configuration, certificates);
        AddDataLanes(builder.Services, lanes!, certificates);
        builder.WebHost.ConfigureKestrel(kestrel => ConfigureKestrel(kestrel, settings!.Transport, certificates));
        if (string.IsNullOrEmpty(builder.Configuration["urls"]) && !builder.Configuration.GetSection("Kestrel:Endpoints").Exists())
        {
            builder.WebHost.UseUrls(DefaultUrl);
        }

        // Once everything above has looked up its keys: a section read below this line would find its keys unknown.
        if (UnknownKeys.Find(builder.Configuration) is { Count: > 0 } unknown)
        {
            throw new BrokerConfigurationException(unknown);
        }

        services?.Invoke(builder.Services);
        builder.Services.TrackBrokerStore();
        var app = builder.Build();
        app.UseConnectionGuardRequests();
        app.MapGrpcService<BrokerService>();
        // grpc.health.v1 on the job-facing port, for load balancers and proxies that speak gRPC health.
        app.MapGrpcHealthChecksService();
        return app;
    }

    /// <summary>Where <c>/metrics</c> and <c>/healthz</c> are served (port 0 resolved); null when disabled.</summary>
    public static Uri? MetricsAddress(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        return app.Services.GetService<MetricsEndpoint>()?.Address;
    }

    /// <summary>Where the raw lane listens (port 0 resolved) once started; null when it is off.</summary>
    public static Uri? RawLaneAddress(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        return app.Services.GetRequiredService<RawLaneListener>().Address;
    }

    /// <summary>Where the admin endpoint listens (port 0 resolved) once started; null when it is disabled.</summary>
    public static Uri? AdminAddress(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        return app.Services.GetService<AdminEndpoint>()?.Address;
    }

    /// <summary>The addresses the broker actually listens on (port 0 resolved).</summary>
    public static IReadOnlyList<Uri> Addresses(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        return app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!
            .Addresses.Select(a => new Uri(a)).ToList();
    }

    /// <summary>The lanes tunnels may take: Tunnel calls on Kestrel, and the raw lane on its own listener.</summary>
    private static void AddDataLanes(IServiceCollection services, LaneSettings lanes, CertificateSource? certificates)
    {
        services.AddSingleton(lanes);
        services.AddSingleton<DataLanes>();
        services.AddSingleton<RawLaneConnection>();
        if (lanes.RawUsesTls && certificates is not null)
        {
            services.AddSingleton(new RawLaneTls(certificates));
        }

        services.AddSingleton<RawLaneListener>();
        services.AddHostedService(sp => sp.GetRequiredService<RawLaneListener>());
    }

    /// <summary>Reads one section; its errors join <paramref name="errors"/> instead of stopping the others being read.</summary>
    private static T? ReadSection<T>(List<string> errors, Func<IConfiguration, T> read, IConfiguration configuration)
        where T : class?
    {
        try
        {
            return read(configuration);
        }
        catch (BrokerConfigurationException ex)
        {
            errors.AddRange(ex.Errors);
            return null;
        }
    }

    /// <summary>The job-facing listeners' limits, from <c>Broker:Transport</c>.</summary>
    internal static ConnectionGuardOptions JobFacingGuard(TransportSettings transport) => new()
    {
        Name = "broker",
        MaxConnections = transport.MaxConnections,
        MaxUnprovenPerSource = transport.MaxUnprovenPerSource,
        ProveTimeout = transport.ProveTimeout,
        // An OpenSession in flight has its own bound (SessionTimeout); its connection may wait that long for it.
        RequestGrace = transport.SessionTimeout,
    };

    private static void AddConfigFiles(ConfigurationManager configuration, IReadOnlyList<string> files)
    {
        var sources = configuration.Sources;
        var firstOverriding = sources.ToList().FindIndex(s => s is EnvironmentVariablesConfigurationSource or CommandLineConfigurationSource);
        var at = firstOverriding < 0 ? sources.Count : firstOverriding;
        foreach (var file in files)
        {
            // Reloaded on change: the policy follows the file (PolicyReloader), and a reload that cannot parse it
            // keeps its last good contents rather than emptying it.
            var source = new WatchedJsonConfigurationSource { Path = Path.GetFullPath(file), Optional = false, ReloadOnChange = true };
            source.ResolveFileProvider();
            try
            {
                sources.Insert(at++, source);
            }
            catch (InvalidDataException ex)
            {
                throw new BrokerConfigurationException([$"{Path.GetFullPath(file)}: not valid JSON: {JsonFileError.Describe(ex)}"]);
            }
        }
    }

    private static void ConfigureKestrel(KestrelServerOptions kestrel, TransportSettings transport, CertificateSource? certificates)
    {
        kestrel.AddServerHeader = false;
        var limits = kestrel.Limits;
        limits.Http2.InitialConnectionWindowSize = transport.ConnectionWindowSize;
        limits.Http2.InitialStreamWindowSize = transport.StreamWindowSize;
        limits.Http2.MaxStreamsPerConnection = transport.MaxStreamsPerConnection;
        limits.Http2.KeepAlivePingDelay = transport.KeepAlivePingDelay;
        limits.Http2.KeepAlivePingTimeout = transport.KeepAlivePingTimeout;
        limits.KeepAliveTimeout = transport.IdleConnectionTimeout;
        // No MaxConcurrentConnections: Kestrel would refuse at the limit, before anything can tell an agent from an
        // idle socket. The connection guard counts instead, and makes room by closing the oldest unproven connection.
        // Our calls carry a handful of small headers (a lease token under 1 KiB, a proof, a target name): anything
        // much larger is not ours, and an unauthenticated caller should not get Kestrel's generous defaults.
        limits.MaxRequestHeadersTotalSize = 16 * 1024;
        limits.MaxRequestHeaderCount = 32;
        limits.Http2.MaxRequestHeaderFieldSize = 8 * 1024;
        // A quiet tunnel is a healthy tunnel (an idle database session), and a backpressured one sends nothing for
        // as long as its reader is slow: no floor on response data rate may end it. The request-body floor stays
        // for unary calls, so a slow-drip OpenSession cannot hold memory; gRPC lifts it for streaming calls itself.
        limits.MinResponseDataRate = null;
        // gRPC needs HTTP/2; without TLS that means prior knowledge (h2c), so endpoints speak HTTP/2 only. TLS
        // endpoints also encrypt in full-size records rather than Kestrel's 4 KiB ones (TlsWriteBuffering says why).
        kestrel.ConfigureEndpointDefaults(endpoint =>
        {
            endpoint.Protocols = HttpProtocols.Http2;
            // First, ahead of TLS: a handshake is part of the time a connection has to prove itself.
            endpoint.UseConnectionGuard(services => services.GetRequiredService<ConnectionGuard>());
            endpoint.UseLargeTlsBuffers();
        });
        // https:// endpoints get the Broker:Tls certificate (reloaded on change), TLS 1.2+ and ALPN h2.
        kestrel.UseBrokerCertificate(certificates);
    }
}
