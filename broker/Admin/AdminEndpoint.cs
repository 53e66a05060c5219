using System.Net;
using GitHubActionsPort.Broker.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace GitHubActionsPort.Broker.Admin;

/// <summary>
/// The admin endpoint: its own small Kestrel server (HTTP/1.1, JSON), apart from the broker's gRPC listeners, so it
/// binds where <c>Broker:Admin:Url</c> says whatever <c>--urls</c> or <c>Kestrel:Endpoints</c> do, and never shares a
/// port with the job-facing service.
/// </summary>
internal sealed class AdminEndpoint(AdminSettings settings, AdminCredential credential, AdminApi api, ILoggerFactory loggerFactory) : IHostedService, IAsyncDisposable
{
    private WebApplication? _app;

    /// <summary>Where the endpoint listens (port 0 resolved); null until started.</summary>
    public Uri? Address { get; private set; }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var logger = loggerFactory.CreateLogger<AdminEndpoint>();
        if (credential.Created)
        {
            AdminLog.CredentialCreated(logger, credential.Path);
        }

        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        // The broker's own log providers and filters, so admin traffic lands where the rest of the broker logs.
        builder.Services.AddSingleton<ILoggerFactory>(new AdminLoggerFactory(loggerFactory));
        builder.Services.AddSingleton<IHostLifetime, AdminHostLifetime>();
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = 64 * 1024;
            kestrel.Limits.MaxRequestHeadersTotalSize = 16 * 1024;
            kestrel.Limits.MaxConcurrentConnections = 16;
            var port = settings.Url.Port;
            void Http1(ListenOptions listen) => listen.Protocols = HttpProtocols.Http1;
            if (settings.BindAddress is { } ip)
            {
                kestrel.Listen(ip, port, Http1);
            }
            else
            {
                kestrel.Listen(IPAddress.Loopback, port, Http1);
            }
        });

        var app = builder.Build();
        app.Run(api.HandleAsync);
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        _app = app;
        Address = app.Addresses()[0];
        AdminLog.Listening(logger, Address, credential.Path);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_app is not null)
        {
            await _app.StopAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync().ConfigureAwait(false);
        }
    }
}
