using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace GitHubActionsPort.TestSupport;

/// <summary>
/// A private CA and the server certificates it signs, made in memory for a broker serving TLS on loopback; the
/// agent trusts the CA through <c>--ca-cert</c>.
/// </summary>
public static class TestCertificates
{
    /// <summary>A self-signed CA named <paramref name="name"/>, valid for a day, with its key.</summary>
    public static X509Certificate2 CreateCa(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
    }

    /// <summary>
    /// A server certificate for localhost and 127.0.0.1 (or, given <paramref name="dnsName"/>, for that name only),
    /// signed by <paramref name="ca"/>, with its key.
    /// </summary>
    public static X509Certificate2 IssueServerCertificate(X509Certificate2 ca, string? dnsName = null)
    {
        ArgumentNullException.ThrowIfNull(ca);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={dnsName ?? "localhost"}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        if (dnsName is not null)
        {
            names.AddDnsName(dnsName);
        }
        else
        {
            names.AddDnsName("localhost");
            names.AddIpAddress(IPAddress.Loopback);
        }

        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        using var signed = request.Create(ca, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(12), RandomNumberGenerator.GetBytes(16));
        return signed.CopyWithPrivateKey(key);
    }

    /// <summary>The PEM certificate and PKCS#8 PEM key, as <c>Broker:Tls:CertificatePath</c> and <c>Broker:Tls:KeyPath</c> read them.</summary>
    public static (string Certificate, string Key) ToPem(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        using var key = certificate.GetECDsaPrivateKey() ?? throw new ArgumentException("the certificate has no ECDSA private key", nameof(certificate));
        return (certificate.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem());
    }

    /// <summary>Writes <paramref name="certificate"/> and its EC key as the PEM pair <c>Broker:Tls</c> reads.</summary>
    public static async Task WritePemPairAsync(X509Certificate2 certificate, string certificatePath, string keyPath)
    {
        var (pem, key) = ToPem(certificate);
        await File.WriteAllTextAsync(keyPath, key).ConfigureAwait(false);
        await File.WriteAllTextAsync(certificatePath, pem).ConfigureAwait(false);
    }
}
