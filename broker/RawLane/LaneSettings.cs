using System.Globalization;
using System.Net;
using GitHubActionsPort.Broker.Configuration;
using GitHubActionsPort.Broker.Hosting;

namespace GitHubActionsPort.Broker.RawLane;

/// <summary>
/// Which lanes carry tunnels (<c>Broker:Lanes:*</c>): the gRPC lane (a Tunnel call per connection, through any
/// HTTP/2 proxy) and the raw lane (a TCP or TLS connection per tunnel, for speed, on a port of its own).
/// </summary>
internal sealed record LaneSettings
{
    public const string Section = "Broker:Lanes";

    /// <summary>The raw lane's port when <c>Broker:Lanes:Raw:Url</c> does not say: beside the broker's 8470 and the admin 8471.</summary>
    public const int DefaultRawPort = 8472;

    /// <summary>Whether Tunnel calls are served (<c>Broker:Lanes:Grpc:Enabled</c>). Default: true.</summary>
    public bool GrpcEnabled { get; init; } = true;

    /// <summary>Whether the raw lane listens (<c>Broker:Lanes:Raw:Enabled</c>). Default: true.</summary>
    public bool RawEnabled { get; init; } = true;

    /// <summary>
    /// Where the raw lane listens (<c>Broker:Lanes:Raw:Url</c>): <c>https://</c> (TLS with the broker's certificate)
    /// or, only where the broker itself is plain, <c>http://</c>. Default: the scheme and host of the broker's first
    /// URL, port <see cref="DefaultRawPort"/> (or 0, a port from the OS, when the broker's own port is 0).
    /// </summary>
    public required Uri RawUrl { get; init; }

    /// <summary>
    /// The port agents are told to dial (<c>Broker:Lanes:Raw:AdvertisedPort</c>), when a load balancer or NAT maps
    /// another one to <see cref="RawUrl"/>'s. Default: the port the lane is bound to.
    /// </summary>
    public int? RawAdvertisedPort { get; init; }

    /// <summary>
    /// How long an authenticated connection may wait for its tunnel (<c>Broker:Lanes:Raw:IdleTimeout</c>): agents
    /// keep a few warm, and replace them well before this. Default: two minutes.
    /// </summary>
    public TimeSpan RawIdleTimeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// How long a new connection has for its TLS handshake and its Hello (<c>Broker:Lanes:Raw:HandshakeTimeout</c>),
    /// so an unauthenticated peer cannot hold a connection open. Default: ten seconds.
    /// </summary>
    public TimeSpan RawHandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public bool RawUsesTls => RawUrl.Scheme == Uri.UriSchemeHttps;

    /// <summary>The address to bind: an IP literal, or <see cref="IPAddress.Loopback"/> for <c>localhost</c>.</summary>
    public IPAddress RawBindAddress => IPAddress.TryParse(RawUrl.Host.Trim('[', ']'), out var ip) ? ip : IPAddress.Loopback;

    /// <summary>
    /// Reads and checks <c>Broker:Lanes:*</c>; throws <see cref="BrokerConfigurationException"/> naming each bad key.
    /// <paramref name="tlsConfigured"/>: whether <c>Broker:Tls</c> names a certificate.
    /// </summary>
    public static LaneSettings Read(IConfiguration configuration, bool tlsConfigured)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var section = configuration.GetSection(Section);
        var errors = new List<string>();
        var grpc = BrokerSettingsReader.ReadBool(section, "Grpc:Enabled", true, errors);
        var raw = BrokerSettingsReader.ReadBool(section, "Raw:Enabled", true, errors);
        if (!grpc && !raw)
        {
            errors.Add($"{Section}: the gRPC lane and the raw lane are both disabled; tunnels need at least one (set {Section}:Grpc:Enabled or {Section}:Raw:Enabled to true).");
        }

        var brokerUrl = BrokerUrl(configuration);
        var url = ReadRawUrl(section["Raw:Url"], brokerUrl, tlsConfigured, raw, errors);
        var advertised = ReadPort(section, "Raw:AdvertisedPort", errors);
        var idle = BrokerSettingsReader.ReadDuration(section, "Raw:IdleTimeout", TimeSpan.FromMinutes(2), errors) ?? TimeSpan.FromMinutes(2);
        var handshake = BrokerSettingsReader.ReadDuration(section, "Raw:HandshakeTimeout", TimeSpan.FromSeconds(10), errors) ?? TimeSpan.FromSeconds(10);
        if (errors.Count > 0)
        {
            throw new BrokerConfigurationException(errors);
        }

        return new LaneSettings
        {
            GrpcEnabled = grpc,
            RawEnabled = raw,
            RawUrl = url!,
            RawAdvertisedPort = advertised,
            RawIdleTimeout = idle,
            RawHandshakeTimeout = handshake,
        };
    }

    /// <summary>The broker's first job-facing URL: <c>--urls</c>, else the first Kestrel endpoint, else the default.</summary>
    private static Uri? BrokerUrl(IConfiguration configuration)
    {
        var text = configuration["urls"]?.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault()
            ?? configuration.GetSection("Kestrel:Endpoints").GetChildren().Select(e => e["Url"]).FirstOrDefault(u => !string.IsNullOrEmpty(u))
            ?? BrokerHost.DefaultUrl;
        // Kestrel's wildcards ("http://*:8470", "http://+:8470") are not host names Uri accepts as they are.
        text = text.Replace("://*", "://0.0.0.0", StringComparison.Ordinal).Replace("://+", "://0.0.0.0", StringComparison.Ordinal);
        return Uri.TryCreate(text, UriKind.Absolute, out var url) ? url : null;
    }

    private static Uri? ReadRawUrl(string? text, Uri? brokerUrl, bool tlsConfigured, bool enabled, List<string> errors)
    {
        var key = $"{Section}:Raw:Url";
        var brokerUsesTls = brokerUrl?.Scheme == Uri.UriSchemeHttps;
        if (text is null)
        {
            var scheme = brokerUsesTls ? "https" : "http";
            var host = brokerUrl is null || brokerUrl.Host == "localhost" ? "127.0.0.1" : brokerUrl.Host;
            // A broker on a port from the OS (tests, throwaway brokers) gets its raw lane on one too.
            var port = brokerUrl?.Port == 0 ? 0 : DefaultRawPort;
            return new Uri(string.Create(CultureInfo.InvariantCulture, $"{scheme}://{host}:{port}"));
        }

        if (!Uri.TryCreate(text, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
        {
            errors.Add($"{key}: '{text}' is not an https:// (or, for a plain broker, http://) URL.");
            return null;
        }

        if (!BrokerSettingsReader.IsListenUrl(key, url, errors))
        {
            return null;
        }

        if (!enabled)
        {
            return url;
        }

        if (url.Scheme == Uri.UriSchemeHttps && !tlsConfigured)
        {
            errors.Add($"{key}: '{text}' is https, but Broker:Tls names no certificate (Broker:Tls:CertificatePath and Broker:Tls:KeyPath, or Broker:Tls:PfxPath).");
            return null;
        }

        if (url.Scheme == Uri.UriSchemeHttp && brokerUsesTls)
        {
            errors.Add($"{key}: '{text}' is plain while the broker serves https; the raw lane carries the same traffic, so it must use TLS too (https://).");
            return null;
        }

        return url;
    }

    private static int? ReadPort(IConfigurationSection section, string name, List<string> errors)
    {
        var text = section[name];
        if (text is null)
        {
            return null;
        }

        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is > 0 and <= 65535)
        {
            return port;
        }

        errors.Add($"{Section}:{name}: '{text}' is not a port number (1 to 65535).");
        return null;
    }
}
