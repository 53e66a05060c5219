using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace GitHubActionsPort.Broker.Hosting;

/// <summary>
/// A small HTTP/1.1 server on one address, apart from the broker's gRPC listeners (the admin endpoint, the metrics
/// endpoint): it binds where its own setting says whatever <c>--urls</c> does, and never shares the job-facing port.
/// </summary>
internal sealed class SideServer : IAsyncDisposable
{
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
    /// <paramref name="handle"/>. When it cannot listen there, a <see cref="ListenException"/> says so, naming it
    /// (<paramref name="name"/>, "the admin endpoint") and the configuration key that moves it (<paramref name="key"/>).
    /// </summary>
    public static async Task<SideServer> StartAsync(
        string name,
        string key,
        IPAddress address,
        int port,
        Action<KestrelServerLimits> limits,
        Action<IServiceCollection>? services,
        RequestDelegate handle,
        CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        services?.Invoke(builder.Services);
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            limits(kestrel.Limits);
            kestrel.Listen(address, port, listen => listen.Protocols = HttpProtocols.Http1);
        });

        var app = builder.Build();
        app.Run(handle);
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (IOException ex) when (ex.InnerException is not null)
        {
            // Kestrel's bind failure (its IOException around AddressInUseException or a SocketException).
            await app.DisposeAsync().ConfigureAwait(false);
            throw new ListenException($"{name} cannot listen on {new IPEndPoint(address, port)} ({key}): {Innermost(ex).Message}", ex);
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
