using System.Security.Cryptography;

namespace GitHubActionsPort.TestSupport.Images;

/// <summary>Content digests as OCI writes them: <c>sha256:</c> and 64 lowercase hex digits.</summary>
public static class OciDigest
{
    public static string Of(byte[] bytes) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes));

    public static async Task<string> OfFileAsync(string path, CancellationToken cancellationToken = default)
    {
        await using var file = File.OpenRead(path);
        return "sha256:" + Convert.ToHexStringLower(await SHA256.HashDataAsync(file, cancellationToken).ConfigureAwait(false));
    }
}
