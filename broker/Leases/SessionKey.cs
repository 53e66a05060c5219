using System.Security.Cryptography;
using Microsoft.IdentityModel.Tokens;

namespace GitHubActionsPort.Broker.Leases;

/// <summary>The public half of an agent's session key, checked and thumbprinted (RFC 7638) for binding into a lease.</summary>
internal sealed class SessionKey
{
    private SessionKey(ECDsa key, string thumbprint)
    {
        Key = key;
        Thumbprint = thumbprint;
    }

    public ECDsa Key { get; }

    public string Thumbprint { get; }

    /// <summary>Reads an X.509 SubjectPublicKeyInfo; null unless it is exactly an ECDSA P-256 public key.</summary>
    public static SessionKey? TryRead(ReadOnlySpan<byte> subjectPublicKeyInfo)
    {
        if (subjectPublicKeyInfo.IsEmpty || subjectPublicKeyInfo.Length > 512)
        {
            return null;
        }

        var key = ECDsa.Create();
        try
        {
            key.ImportSubjectPublicKeyInfo(subjectPublicKeyInfo, out var read);
            var parameters = key.ExportParameters(includePrivateParameters: false);
            if (read != subjectPublicKeyInfo.Length || key.KeySize != 256 || !IsP256(parameters.Curve))
            {
                key.Dispose();
                return null;
            }

            var thumbprint = Base64UrlEncoder.Encode(new ECDsaSecurityKey(key).ComputeJwkThumbprint());
            return new SessionKey(key, thumbprint);
        }
        catch (CryptographicException)
        {
            key.Dispose();
            return null;
        }
    }

    /// <summary>Platforms name the curve by OID or by one of two friendly names.</summary>
    private static bool IsP256(ECCurve curve) =>
        curve.IsNamed && (curve.Oid.Value == "1.2.840.10045.3.1.7" || curve.Oid.FriendlyName is "nistP256" or "ECDSA_P256" or "prime256v1");
}
