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
    /// Throws naming <c>Broker:Tls</c> when <paramref name="urls"/> (the <c>urls</c> setting) asks for https but no
    /// certificate is configured, rather than let Kestrel fall back to a development certificate.
    /// </summary>
    public static void RequireCertificateForHttps(string? urls, CertificateSource? certificates)
    {
        if (certificates is not null || string.IsNullOrEmpty(urls))
        {
            return;
        }

        var https = urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .FirstOrDefault(u => u.StartsWith("https://", StringComparison.OrdinalIgnoreCase));
        if (https is not null)
        {
            throw new BrokerConfigurationException([$"{TlsSettings.SectionName}:CertificatePath: required for the https endpoint {https} (with {TlsSettings.SectionName}:KeyPath, or {TlsSettings.SectionName}:PfxPath)."]);
        }
    }
}
