using System.Net;
using GitHubActionsPort.Broker.Configuration;
using GitHubActionsPort.Broker.Leases;

namespace GitHubActionsPort.Broker.Admin;

/// <summary>
/// The admin endpoint (<c>Broker:Admin:*</c>): where it listens and where its credential is kept. Read by the broker
/// at start-up and by <c>ghaport-broker sessions</c>, so the command finds the endpoint with no flags on the
/// broker's own host.
/// </summary>
internal sealed record AdminSettings
{
    public const string Section = "Broker:Admin";

    /// <summary>Where the admin endpoint listens unless <c>Broker:Admin:Url</c> says.</summary>
    public const string DefaultUrl = "http://127.0.0.1:8471";

    /// <summary>The credential file's name, next to the lease signing key, when <c>Broker:Admin:TokenFile</c> is not set.</summary>
    public const string DefaultTokenFileName = "admin-token";

    /// <summary>Whether the broker serves the admin endpoint (<c>Broker:Admin:Enabled</c>). Default: true.</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>
    /// Where the endpoint listens (<c>Broker:Admin:Url</c>): plain HTTP/1.1 at an IP address or <c>localhost</c>, port
    /// 0 for one the OS picks. Default: <see cref="DefaultUrl"/>.
    /// </summary>
    public Uri Url { get; init; } = new(DefaultUrl);

    /// <summary>
    /// Whether <see cref="Url"/> may be off loopback (<c>Broker:Admin:AllowRemote</c>). Default: false: the endpoint
    /// speaks plain HTTP, and its credential can end any job's access.
    /// </summary>
    public bool AllowRemote { get; init; }

    /// <summary>
    /// The file holding the admin credential (<c>Broker:Admin:TokenFile</c>). Default: <c>admin-token</c> in the lease
    /// signing key's folder, made (owner-only) on first start.
    /// </summary>
    public required string TokenFile { get; init; }

    /// <summary>True when <see cref="TokenFile"/> came from the configuration, so it must already exist.</summary>
    public bool TokenFileConfigured { get; init; }

    /// <summary>Reads and checks <c>Broker:Admin:*</c>; throws <see cref="BrokerConfigurationException"/> naming each bad key.</summary>
    public static AdminSettings Read(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var section = configuration.GetSection(Section);
        var errors = new List<string>();
        var enabled = BrokerSettingsReader.ReadBool(section, "Enabled", true, errors);
        var allowRemote = BrokerSettingsReader.ReadBool(section, "AllowRemote", false, errors);
        var url = ReadUrl(section["Url"], allowRemote, errors);

        var configuredFile = section["TokenFile"];
        var signingKey = configuration["Broker:Leases:SigningKeyPath"];
        string tokenFile;
        if (configuredFile is not null && string.IsNullOrWhiteSpace(configuredFile))
        {
            errors.Add($"{Section}:TokenFile: must name a file holding the admin credential, or be left out for the default.");
            tokenFile = string.Empty;
        }
        else
        {
            var keyPath = signingKey is { Length: > 0 } key ? Path.GetFullPath(key) : LeaseSigningKey.DefaultPath;
            tokenFile = configuredFile is null
                ? Path.Combine(Path.GetDirectoryName(keyPath)!, DefaultTokenFileName)
                : Path.GetFullPath(configuredFile);
        }

        if (errors.Count > 0)
        {
            throw new BrokerConfigurationException(errors);
        }

        return new AdminSettings
        {
            Enabled = enabled,
            Url = url!,
            AllowRemote = allowRemote,
            TokenFile = tokenFile,
            TokenFileConfigured = configuredFile is not null,
        };
    }

    /// <summary>The address to bind: an IP literal, or null for <c>localhost</c> (both loopbacks).</summary>
    public IPAddress? BindAddress => IPAddress.TryParse(Url.Host.Trim('[', ']'), out var ip) ? ip : null;

    private static Uri? ReadUrl(string? text, bool allowRemote, List<string> errors)
    {
        var key = $"{Section}:Url";
        if (text is null)
        {
            return new Uri(DefaultUrl);
        }

        if (!Uri.TryCreate(text, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
        {
            errors.Add($"{key}: '{text}' is not an http:// URL.");
            return null;
        }

        if (url.Scheme == Uri.UriSchemeHttps)
        {
            errors.Add($"{key}: '{text}': the admin endpoint speaks plain HTTP; keep it on loopback (http://127.0.0.1:PORT).");
            return null;
        }

        if (!BrokerSettingsReader.IsListenUrl(key, url, errors))
        {
            return null;
        }

        if (!allowRemote && !BrokerSettingsReader.IsLoopback(url))
        {
            errors.Add($"{key}: '{text}' is not on loopback; the admin endpoint is plain HTTP and its credential can end any job's access, so it stays on loopback unless {Section}:AllowRemote is true.");
            return null;
        }

        return url;
    }
}
