using System.Security.Cryptography;
using GitHubActionsPort.Broker.Configuration;
using Microsoft.IdentityModel.Tokens;

namespace GitHubActionsPort.Broker.Leases;

/// <summary>
/// The broker's own ECDSA P-256 key for signing lease tokens. Read from <c>Broker:Leases:SigningKeyPath</c> (a PEM
/// file), or made on first start and kept there (owner-only), so leases survive a restart of the process that
/// signed them only if the key does. Its <c>kid</c> is the key's thumbprint.
/// </summary>
internal sealed class LeaseSigningKey : IDisposable
{
    private readonly ECDsa _key;

    /// <summary>Where the key is kept unless <c>Broker:Leases:SigningKeyPath</c> says: the service user's own data folder.</summary>
    public static string DefaultPath => Path.Combine(
        Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create), "ghaport-broker", "lease-signing-key.pem");

    public LeaseSigningKey(IConfiguration configuration, ILogger<LeaseSigningKey> logger)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var path = configuration["Broker:Leases:SigningKeyPath"] is { Length: > 0 } configured ? Path.GetFullPath(configured) : DefaultPath;
        _key = File.Exists(path) ? Load(path) : Create(path, logger);
        SecurityKey = new ECDsaSecurityKey(_key)
        {
            // A factory of its own: the shared default caches signature providers by key id, and a second broker in
            // the same process (tests) loading the same key file would be handed this instance's providers after
            // this instance disposed them.
            CryptoProviderFactory = new CryptoProviderFactory(),
        };
        SecurityKey.KeyId = Base64UrlEncoder.Encode(SecurityKey.ComputeJwkThumbprint());
    }

    public ECDsaSecurityKey SecurityKey { get; }

    /// <summary>The key's <c>kid</c>: its RFC 7638 thumbprint, as other instances look it up in the store.</summary>
    public string KeyId => SecurityKey.KeyId;

    /// <summary>The public half (SubjectPublicKeyInfo), published in the store so every instance accepts this one's leases.</summary>
    public byte[] PublicKey() => _key.ExportSubjectPublicKeyInfo();

    public void Dispose() => _key.Dispose();

    private static ECDsa Load(string path)
    {
        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(File.ReadAllText(path));
            if (key.KeySize != 256)
            {
                throw new BrokerConfigurationException([$"Broker:Leases:SigningKeyPath: '{path}' is not an ECDSA P-256 private key."]);
            }

            return key;
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException)
        {
            key.Dispose();
            throw new BrokerConfigurationException([$"Broker:Leases:SigningKeyPath: '{path}' does not hold a PEM ECDSA private key ({ex.Message})."]);
        }
    }

    private static ECDsa Create(string path, ILogger logger)
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory);

        // Written to a private temp file and moved into place, so a reader never sees half a key and two brokers
        // starting at once agree on whichever landed first.
        var temp = Path.Combine(directory, $".{Path.GetFileName(path)}.{Environment.ProcessId}.tmp");
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var file = new StreamWriter(temp, System.Text.Encoding.ASCII, options))
        {
            file.Write(key.ExportPkcs8PrivateKeyPem());
        }

        try
        {
            File.Move(temp, path, overwrite: false);
            LeaseKeyLog.Created(logger, path);
            return key;
        }
        catch (IOException) when (File.Exists(path))
        {
            File.Delete(temp);
            key.Dispose();
            return Load(path);
        }
    }
}
