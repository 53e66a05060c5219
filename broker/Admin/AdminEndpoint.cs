using System.Net;
using GitHubActionsPort.Broker.Hosting;

namespace GitHubActionsPort.Broker.Admin;

/// <summary>
/// The admin endpoint: its own small Kestrel server (HTTP/1.1, JSON), apart from the broker's gRPC listeners, so it
/// binds where <c>Broker:Admin:Url</c> says whatever <c>--urls</c> or <c>Kestrel:Endpoints</c> do, and never shares a
/// port with the job-facing service.
/// </summary>
internal sealed class AdminEndpoint(AdminSettings settings, AdminCredential credential, AdminApi api, ILoggerFactory loggerFactory) : IHostedService, IAsyncDisposable
{
    private SideServer? _server;

    /// <summary>Where the endpoint listens (port 0 resolved); null until started.</summary>
    public Uri? Address { get; private set; }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var logger = loggerFactory.CreateLogger<AdminEndpoint>();
        if (credential.Created)
        {
            AdminLog.CredentialCreated(logger, credential.Path);
        }

        _server = await SideServer.StartAsync(
            "admin",
            $"{AdminSettings.Section}:Url",
            logger,
            settings.BindAddress ?? IPAddress.Loopback,
            settings.Url.Port,
            limits =>
            {
                limits.MaxRequestBodySize = 64 * 1024;
                limits.MaxRequestHeadersTotalSize = 16 * 1024;
            },
            services =>
            {
                // The broker's own log providers and filters, so admin traffic lands where the rest of the broker logs.
                services.AddSingleton<ILoggerFactory>(new AdminLoggerFactory(loggerFactory));
                services.AddSingleton<IHostLifetime, AdminHostLifetime>();
            },
            api.HandleAsync,
            cancellationToken).ConfigureAwait(false);
        Address = _server.Address;
        AdminLog.Listening(logger, Address, credential.Path);
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
}
