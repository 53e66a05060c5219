using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using GitHubActionsPort.Broker.Tls;
using GitHubActionsPort.Protocol.RawLane;

namespace GitHubActionsPort.Broker.RawLane;

/// <summary>
/// The raw lane's TLS: the broker's own certificate (reloaded like Kestrel's), TLS 1.2 and 1.3, and the lane's
/// ALPN id alone, so a client that does not ask for this lane (a browser, an HTTP/2 client) gets no session.
/// </summary>
internal sealed class RawLaneTls(CertificateSource certificates)
{
    private static readonly List<SslApplicationProtocol> Protocols = [new(RawLaneFrame.ApplicationProtocol)];

    private CachedContext? _cached;

    /// <summary>Options for one handshake. The certificate context is built once per certificate, not per connection.</summary>
    public SslServerAuthenticationOptions Options() => new()
    {
        ServerCertificateContext = Context(),
        ApplicationProtocols = Protocols,
        EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
        ClientCertificateRequired = false,
        AllowRenegotiation = false,
    };

    /// <summary>Whether the handshake chose this lane's protocol; anything else is not one of our agents.</summary>
    public static bool ChoseRawLane(SslStream tls)
    {
        ArgumentNullException.ThrowIfNull(tls);
        return tls.NegotiatedApplicationProtocol == Protocols[0];
    }

    private SslStreamCertificateContext Context()
    {
        var current = certificates.Current;
        var cached = Volatile.Read(ref _cached);
        if (cached is not null && ReferenceEquals(cached.Certificate, current))
        {
            return cached.Context;
        }

        // offline: the chain is built from what the certificate files held, without fetching intermediates.
        var context = SslStreamCertificateContext.Create(current, additionalCertificates: null, offline: true);
        Volatile.Write(ref _cached, new CachedContext(current, context));
        return context;
    }

    private sealed record CachedContext(X509Certificate2 Certificate, SslStreamCertificateContext Context);
}
