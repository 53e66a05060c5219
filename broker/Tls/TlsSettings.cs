namespace GitHubActionsPort.Broker.Tls;

/// <summary>
/// Where the broker's TLS certificate comes from (<c>Broker:Tls</c>): a PEM certificate and key, or a PFX. Absent,
/// the broker has no certificate and an <c>https://</c> endpoint cannot start.
/// </summary>
public sealed record TlsSettings
{
    public const string SectionName = "Broker:Tls";

    /// <summary>PEM certificate (the leaf first; intermediates may follow). <c>Broker:Tls:CertificatePath</c>. Default: none.</summary>
    public string? CertificatePath { get; init; }

    /// <summary>PEM private key of <see cref="CertificatePath"/> (PKCS#8, RSA or EC). <c>Broker:Tls:KeyPath</c>. Default: none.</summary>
    public string? KeyPath { get; init; }

    /// <summary>PKCS#12 file holding certificate and key, instead of the PEM pair. <c>Broker:Tls:PfxPath</c>. Default: none.</summary>
    public string? PfxPath { get; init; }

    /// <summary>Password of <see cref="PfxPath"/>. <c>Broker:Tls:PfxPassword</c>. Default: none.</summary>
    public string? PfxPassword { get; init; }

    /// <summary>The files whose change triggers a reload.</summary>
    internal IEnumerable<string> Files => PfxPath is not null ? [PfxPath] : [CertificatePath!, KeyPath!];

    /// <summary>Reads <c>Broker:Tls</c>; null when it names no certificate. Throws naming the key for a half-given pair.</summary>
    public static TlsSettings? Read(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var section = configuration.GetSection(SectionName);
        string? Path(string key) => string.IsNullOrWhiteSpace(section[key]) ? null : System.IO.Path.GetFullPath(section[key]!);
        var settings = new TlsSettings
        {
            CertificatePath = Path(nameof(CertificatePath)),
            KeyPath = Path(nameof(KeyPath)),
            PfxPath = Path(nameof(PfxPath)),
            PfxPassword = section[nameof(PfxPassword)],
        };

        var errors = new List<string>();
        if (settings.PfxPath is not null && (settings.CertificatePath is not null || settings.KeyPath is not null))
        {
            errors.Add($"{SectionName}:PfxPath: give either a PFX or {SectionName}:CertificatePath and {SectionName}:KeyPath, not both.");
        }
        else if (settings.PfxPath is null && (settings.CertificatePath is null) != (settings.KeyPath is null))
        {
            var missing = settings.CertificatePath is null ? "CertificatePath" : "KeyPath";
            errors.Add($"{SectionName}:{missing}: required with {SectionName}:{(missing == "KeyPath" ? "CertificatePath" : "KeyPath")} (the PEM certificate and its private key).");
        }
        else if (settings.PfxPath is null && settings.PfxPassword is not null)
        {
            errors.Add($"{SectionName}:PfxPassword: given without {SectionName}:PfxPath.");
        }

        if (errors.Count > 0)
        {
            throw new Configuration.BrokerConfigurationException(errors);
        }

        return settings.PfxPath is null && settings.CertificatePath is null ? null : settings;
    }
}
