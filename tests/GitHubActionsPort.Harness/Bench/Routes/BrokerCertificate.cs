namespace GitHubActionsPort.Harness.Bench.Routes;

/// <summary>
/// A private CA and a server certificate for localhost and 127.0.0.1 in a temp folder: the TLS routes' brokers
/// serve it (<c>Broker:Tls:CertificatePath</c>, <c>KeyPath</c>) and their agents trust the CA (<c>--ca-cert</c>).
/// </summary>
internal sealed class BrokerCertificate : IAsyncDisposable
{
    private readonly string _folder;

    private BrokerCertificate(string folder)
    {
        _folder = folder;
    }

    public string CaPath => Path.Combine(_folder, "ca.pem");

    public string CertificatePath => Path.Combine(_folder, "broker.crt");

    public string KeyPath => Path.Combine(_folder, "broker.key");

    public static async Task<BrokerCertificate> CreateAsync()
    {
        var files = new BrokerCertificate(Directory.CreateTempSubdirectory("ghaport-bench-tls-").FullName);
        using var ca = TestCertificates.CreateCa("ghaport bench CA");
        using var server = TestCertificates.IssueServerCertificate(ca);
        var (certificate, key) = TestCertificates.ToPem(server);
        await File.WriteAllTextAsync(files.CaPath, ca.ExportCertificatePem());
        await File.WriteAllTextAsync(files.CertificatePath, certificate);
        await File.WriteAllTextAsync(files.KeyPath, key);
        return files;
    }

    public ValueTask DisposeAsync()
    {
        Directory.Delete(_folder, recursive: true);
        return ValueTask.CompletedTask;
    }
}
