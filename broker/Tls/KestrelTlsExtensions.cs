using System.Security.Authentication;
using GitHubActionsPort.Broker.Configuration;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace GitHubActionsPort.Broker.Tls;

/// <summary>Puts the broker's certificate and TLS rules on every <c>https://</c> endpoint Kestrel opens.</summary>
internal static class KestrelTlsExtensions
{
    /// <summary>
    /// TLS 1.2 and 1.3 only, the certificate <paramref name="certificates"/> holds at each handshake (so a reload
    /// reaches new connections), and no client certificates: callers prove who they are with id-tokens and leases.
    /// Endpoints speak HTTP/2 only, so ALPN offers h2 alone.
    /// </summary>
    public static void UseBrokerCertificate(this KestrelServerOptions kestrel, CertificateSource? certificates)
    {
        ArgumentNullException.ThrowIfNull(kestrel);
        if (certificates is null)
        {
            return;
        }

        certificates.Watch(
            kestrel.ApplicationServices.GetRequiredService<ILoggerFactory>().CreateLogger("GitHubActionsPort.Broker.Tls"),
            kestrel.ApplicationServices.GetService<TimeProvider>() ?? TimeProvider.System);
        kestrel.ApplicationServices.GetRequiredService<IHostApplicationLifetime>().ApplicationStopped.Register(certificates.Dispose);
        kestrel.ConfigureHttpsDefaults(https =>
        {
            https.SslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13;
            https.ServerCertificateSelector = (_, _) => certificates.Current;
        });
    }

    /// <summary>
    /// Throws naming <c>Broker:Tls</c> when an endpoint asks for https (the <c>urls</c> setting, or a
    /// <c>Kestrel:Endpoints:NAME:Url</c> without a certificate of its own) but no certificate is configured, rather
    /// than let Kestrel fall back to a development certificate, or fail at start-up with an unhandled exception.
    /// </summary>
    public static void RequireCertificateForHttps(IConfiguration configuration, CertificateSource? certificates)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        if (certificates is not null)
        {
            return;
        }

        var urls = (configuration["urls"] ?? string.Empty).Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(u => (Url: u, Key: "--urls"));
        var endpoints = configuration.GetSection("Kestrel:Endpoints").GetChildren()
            .Where(e => !e.GetSection("Certificate").Exists())
            .Select(e => (Url: e["Url"] ?? string.Empty, Key: $"Kestrel:Endpoints:{e.Key}:Url"));
        var https = urls.Concat(endpoints).FirstOrDefault(u => u.Url.StartsWith("https://", StringComparison.OrdinalIgnoreCase));
        if (https.Url is not null)
        {
            throw new BrokerConfigurationException([$"{TlsSettings.SectionName}:CertificatePath: required for the https endpoint {https.Url} ({https.Key}) (with {TlsSettings.SectionName}:KeyPath, or {TlsSettings.SectionName}:PfxPath), or make that endpoint http:// on purpose."]);
        }
    }
}
