using System.Net;
using GitHubActionsPort.Broker.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace GitHubActionsPort.Broker.Hosting;

/// <summary>
/// A small HTTP/1.1 server on one address, apart from the broker's gRPC listeners (the admin endpoint, the metrics
/// endpoint): it binds where its own setting says whatever <c>--urls</c> does, and never shares the job-facing port.
/// Idle sockets cannot lock its users out: a <see cref="ConnectionGuard"/> gives every connection
/// <see cref="FirstRequestTimeout"/> and closes the oldest idle one to make room for a new one.
/// </summary>
internal sealed class SideServer : IAsyncDisposable
{
    /// <summary>Connections at once; past it the oldest without a request in flight makes room.</summary>
    internal const int MaxConnections = 32;

    /// <summary>Connections at once from one address; past it that address's oldest idle one makes room.</summary>
    internal const int MaxConnectionsPerSource = 16;

    /// <summary>
    /// How long a connection lives without a request in flight, whether it sent one or not: an administrator's
    /// command or a scrape needs one short exchange, and a socket held open beyond it only holds a slot.
    /// </summary>
    internal static readonly TimeSpan FirstRequestTimeout = TimeSpan.FromSeconds(5);

    /// <summary>How long an answer may take past <see cref="FirstRequestTimeout"/> before its connection is closed anyway.</summary>
    internal static readonly TimeSpan RequestGrace = TimeSpan.FromSeconds(30);

    private readonly WebApplication _app;

    private SideServer(WebApplication app)
    {
        _app = app;
        Address = app.Addresses()[0];
    }

    /// <summary>Where it listens (port 0 resolved).</summary>
    public Uri Address { get; }

    /// <summary>
    /// Starts a server on <paramref name="address"/>:<paramref name="port"/> answering every request with
    /// <paramref name="handle"/>; <paramref name="name"/> ("admin", "metrics") names it in the guard's logs (to
    /// <paramref name="logger"/>) and metrics. When it cannot listen there, a <see cref="ListenException"/> says so,
    /// naming it and the configuration key that moves it (<paramref name="key"/>).
    /// </summary>
    public static async Task<SideServer> StartAsync(
        string name,
        string key,
        ILogger logger,
        IPAddress address,
        int port,
        Action<KestrelServerLimits> limits,
        Action<IServiceCollection>? services,
        RequestDelegate handle,
        CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        services?.Invoke(builder.Services);
        var guard = new ConnectionGuard(
            new ConnectionGuardOptions
            {
                Name = name,
                MaxConnections = MaxConnections,
                MaxUnprovenPerSource = MaxConnectionsPerSource,
                ProveTimeout = FirstRequestTimeout,
                RequestGrace = RequestGrace,
            },
            TimeProvider.System,
            logger);
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            // Kestrel's own limits are minutes long (and its connection cap refuses rather than makes room): the guard
            // keeps the count, and these keep a slow request from outliving it.
            kestrel.Limits.KeepAliveTimeout = FirstRequestTimeout;
            kestrel.Limits.RequestHeadersTimeout = FirstRequestTimeout;
            limits(kestrel.Limits);
            kestrel.Listen(address, port, listen =>
            {
                listen.Protocols = HttpProtocols.Http1;
                listen.UseConnectionGuard(_ => guard);
            });
        });

        var app = builder.Build();
        app.UseConnectionGuardRequests();
        app.Run(handle);
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (IOException ex) when (ex.InnerException is not null)
        {
            // Kestrel's bind failure (its IOException around AddressInUseException or a SocketException).
            await app.DisposeAsync().ConfigureAwait(false);
            throw new ListenException($"the {name} endpoint cannot listen on {new IPEndPoint(address, port)} ({key}): {Innermost(ex).Message}", ex);
        }
        catch
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return new SideServer(app);
    }

    private static Exception Innermost(Exception ex)
    {
        while (ex.InnerException is not null)
        {
            ex = ex.InnerException;
        }

        return ex;
    }

    public Task StopAsync(CancellationToken cancellationToken) => _app.StopAsync(cancellationToken);

    public ValueTask DisposeAsync() => _app.DisposeAsync();
}
