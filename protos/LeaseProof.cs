using System.Buffers.Text;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace GitHubActionsPort.Protocol;

/// <summary>
/// Proof of possession for lease-bearing calls: the agent signs the call with the session key it made in memory,
/// so a lease token copied out of a log or a proxy opens nothing. The signature covers the operation, the lease,
/// the target, a timestamp and a nonce, so a captured proof cannot be replayed elsewhere or later.
/// Header value: <c>{unix milliseconds}.{nonce, base64url}.{ECDSA P-256 SHA-256 signature, IEEE P1363, base64url}</c>.
/// </summary>
public static class LeaseProof
{
    public const string Header = "ghaport-proof";

    /// <summary>How far a proof's timestamp may be from the broker's clock.</summary>
    public static readonly TimeSpan MaxClockDifference = TimeSpan.FromSeconds(60);

    private const int NonceBytes = 16;
    private const int MaxHeaderLength = 256;

    /// <summary>Makes the header value for one call.</summary>
    public static string Create(ECDsa sessionKey, string method, string leaseId, string target, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(sessionKey);
        var unixMs = now.ToUnixTimeMilliseconds();
        var nonce = Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(NonceBytes));
        var signature = sessionKey.SignData(SignedBytes(method, leaseId, target, unixMs, nonce), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        return string.Create(CultureInfo.InvariantCulture, $"{unixMs}.{nonce}.{Base64Url.EncodeToString(signature)}");
    }

    /// <summary>Splits a header value; false for anything malformed or oversized.</summary>
    public static bool TryParse(string? header, out long unixMs, out string nonce, out byte[] signature)
    {
        unixMs = 0;
        nonce = string.Empty;
        signature = [];
        if (header is null || header.Length > MaxHeaderLength)
        {
            return false;
        }

        var parts = header.Split('.');
        if (parts.Length != 3
            || !long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out unixMs)
            || parts[1].Length is 0 or > 64)
        {
            return false;
        }

        try
        {
            nonce = parts[1];
            signature = Base64Url.DecodeFromChars(parts[2]);
            return signature.Length == 64;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    /// <summary>What is signed: a fixed label, then each field on its own line, so no field can bleed into another.</summary>
    public static byte[] SignedBytes(string method, string leaseId, string target, long unixMs, string nonce) =>
        Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"ghaport-proof-v1\n{method}\n{leaseId}\n{target}\n{unixMs}\n{nonce}"));
}
