using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using GitHubActionsPort.Broker.Configuration;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Primitives;

namespace GitHubActionsPort.Broker.Tls;

/// <summary>
/// The broker's current TLS certificate, loaded at start-up and again whenever its files change. Kestrel asks for
/// it on every handshake (<c>ServerCertificateSelector</c>), so a renewed certificate serves new connections while
/// live ones keep the session they negotiated. A reload that cannot read the files, or finds a key that does not
/// match the certificate, keeps the old certificate and logs why.
/// </summary>
internal sealed class CertificateSource : IDisposable
{
    /// <summary>
    /// Renewal tools write the certificate and the key one after the other: wait for the writes to settle so the
    /// reload does not see a new certificate with the old key.
    /// </summary>
    internal static readonly TimeSpan SettleDelay = TimeSpan.FromMilliseconds(300);

    private readonly TlsSettings _settings;
    private readonly List<PhysicalFileProvider> _providers = [];
    private readonly List<IDisposable> _registrations = [];
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _disposed = new();
    private X509Certificate2 _current;
    private ILogger _logger = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
    private TimeProvider _time = TimeProvider.System;
    private int _reloadScheduled;

    private CertificateSource(TlsSettings settings, X509Certificate2 certificate)
    {
        _settings = settings;
        _current = certificate;
    }

    /// <summary>The certificate new connections get.</summary>
    public X509Certificate2 Current => Volatile.Read(ref _current);

    /// <summary>
    /// Loads the certificate <c>Broker:Tls</c> names; null when it names none. Throws
    /// <see cref="BrokerConfigurationException"/> naming the key of a file that is missing or unusable.
    /// </summary>
    public static CertificateSource? Load(IConfiguration configuration)
    {
        var settings = TlsSettings.Read(configuration);
        if (settings is null)
        {
            return null;
        }

        try
        {
            return new CertificateSource(settings, LoadCertificate(settings));
        }
        catch (CertificateFileException ex)
        {
            throw new BrokerConfigurationException([$"{TlsSettings.SectionName}:{ex.Key}: {ex.Message}"]);
        }
    }

    /// <summary>Logs the certificate and starts following its files.</summary>
    public void Watch(ILogger logger, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(logger);
        ArgumentNullException.ThrowIfNull(time);
        if (_providers.Count > 0)
        {
            return;
        }

        _logger = logger;
        _time = time;
        var current = Current;
        CertificateLog.Loaded(logger, current.Subject, current.Thumbprint, current.NotAfter.ToUniversalTime());
        foreach (var file in _settings.Files)
        {
            var provider = new PhysicalFileProvider(Path.GetDirectoryName(file)!);
            _providers.Add(provider);
            var name = Path.GetFileName(file);
            _registrations.Add(ChangeToken.OnChange(() => provider.Watch(name), ScheduleReload));
        }
    }

    public void Dispose()
    {
        _disposed.Cancel();
        lock (_gate)
        {
            _registrations.ForEach(r => r.Dispose());
            _providers.ForEach(p => p.Dispose());
        }

        _disposed.Dispose();
    }

    private void ScheduleReload()
    {
        // One reload per burst of writes: later changes inside the settle delay are picked up by the same reload.
        if (Interlocked.Exchange(ref _reloadScheduled, 1) == 1)
        {
            return;
        }

        _ = ReloadAfterSettlingAsync();
    }

    private async Task ReloadAfterSettlingAsync()
    {
        try
        {
            await Task.Delay(SettleDelay, _time, _disposed.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }
        finally
        {
            Volatile.Write(ref _reloadScheduled, 0);
        }

        Reload();
    }

    private void Reload()
    {
        lock (_gate)
        {
            if (_disposed.IsCancellationRequested)
            {
                return;
            }

            var old = Current;
            try
            {
                var loaded = LoadCertificate(_settings);
                if (loaded.Thumbprint == old.Thumbprint)
                {
                    loaded.Dispose();
                    return;
                }

                // The old certificate is not disposed: a handshake in flight may still be using it.
                Volatile.Write(ref _current, loaded);
                CertificateLog.Reloaded(_logger, loaded.Subject, loaded.Thumbprint, loaded.NotAfter.ToUniversalTime());
            }
            catch (CertificateFileException ex)
            {
                CertificateLog.ReloadFailed(_logger, old.Thumbprint, $"{TlsSettings.SectionName}:{ex.Key}: {ex.Message}");
            }
        }
    }

    private static X509Certificate2 LoadCertificate(TlsSettings settings)
    {
        X509Certificate2 certificate;
        if (settings.PfxPath is { } pfx)
        {
            certificate = Guard("PfxPath", pfx, () => X509CertificateLoader.LoadPkcs12FromFile(pfx, settings.PfxPassword, X509KeyStorageFlags.DefaultKeySet));
            if (!certificate.HasPrivateKey)
            {
                certificate.Dispose();
                throw new CertificateFileException("PfxPath", $"'{pfx}' holds no private key for its certificate.");
            }
        }
        else
        {
            var certificatePath = settings.CertificatePath!;
            var keyPath = settings.KeyPath!;
            // Read each file on its own first, so the message names the one that is wrong.
            Guard("CertificatePath", certificatePath, () => ReadCertificates(certificatePath));
            Guard("KeyPath", keyPath, () => ReadKey(keyPath));
            certificate = Guard("KeyPath", keyPath, () => X509Certificate2.CreateFromPemFile(certificatePath, keyPath), "does not hold the private key of the certificate in " + certificatePath);
            if (OperatingSystem.IsWindows())
            {
                // SChannel cannot use the ephemeral key a PEM load gives; a PKCS#12 round trip puts it in a key store.
                using var ephemeral = certificate;
                certificate = X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pkcs12), null);
            }
        }

        var now = DateTime.Now;
        if (certificate.NotAfter < now || certificate.NotBefore > now)
        {
            var key = settings.PfxPath is null ? "CertificatePath" : "PfxPath";
            var window = $"{certificate.NotBefore.ToUniversalTime():u} to {certificate.NotAfter.ToUniversalTime():u}";
            certificate.Dispose();
            throw new CertificateFileException(key, $"the certificate is not valid now (valid {window}).");
        }

        return certificate;
    }

    private static bool ReadCertificates(string path)
    {
        var certificates = new X509Certificate2Collection();
        certificates.ImportFromPemFile(path);
        foreach (var certificate in certificates)
        {
            certificate.Dispose();
        }

        return certificates.Count > 0 ? true : throw new CryptographicException("no PEM certificate (-----BEGIN CERTIFICATE-----) in it");
    }

    private static bool ReadKey(string path)
    {
        using var key = ReadAnyKey(File.ReadAllText(path));
        return true;
    }

    private static AsymmetricAlgorithm ReadAnyKey(string pem)
    {
        // The key may be RSA or EC; each importer refuses the other's PEM, so try both.
        var rsa = RSA.Create();
        try
        {
            rsa.ImportFromPem(pem);
            return rsa;
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException)
        {
            rsa.Dispose();
        }

        var ec = ECDsa.Create();
        try
        {
            ec.ImportFromPem(pem);
            return ec;
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException)
        {
            ec.Dispose();
            throw new CryptographicException("no RSA or EC private key in PEM form");
        }
    }

    private static T Guard<T>(string key, string path, Func<T> load, string? mismatch = null)
    {
        try
        {
            return load();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new CertificateFileException(key, $"cannot read '{path}' ({ex.Message}).");
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException)
        {
            throw new CertificateFileException(key, mismatch is null ? $"'{path}' is not usable ({ex.Message})." : $"'{path}' {mismatch} ({ex.Message}).");
        }
    }

    private sealed class CertificateFileException(string key, string message) : Exception(message)
    {
        public string Key { get; } = key;
    }
}
