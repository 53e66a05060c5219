using System.Net;
using GitHubActionsPort.Broker.Configuration;

namespace GitHubActionsPort.Broker.Telemetry;

/// <summary>Where <c>/metrics</c> and <c>/healthz</c> are served (<c>Broker:Metrics</c>), apart from the job-facing port.</summary>
internal sealed record MetricsSettings(bool Enabled, Uri Url, IPAddress Address)
{
    /// <summary>Default: loopback, for a local Prometheus agent or a sidecar; set <c>Broker:Metrics:Url</c> to expose it.</summary>
    public const string DefaultUrl = "http://127.0.0.1:9471";

    public static MetricsSettings Read(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var section = configuration.GetSection("Broker:Metrics");
        var enabledText = section["Enabled"];
        // Both keys are looked up before either can fail, so a bad Enabled does not leave Url looking unknown.
        var urlText = section["Url"] ?? DefaultUrl;
        if (enabledText is not null && !bool.TryParse(enabledText, out _))
        {
            throw new BrokerConfigurationException([$"Broker:Metrics:Enabled: '{enabledText}' is not true or false."]);
        }

        if (!Uri.TryCreate(urlText, UriKind.Absolute, out var url) || url.Scheme != Uri.UriSchemeHttp || !IPAddress.TryParse(url.Host.Trim('[', ']'), out var address))
        {
            throw new BrokerConfigurationException([$"Broker:Metrics:Url: '{urlText}' is not http://IP:PORT (for example {DefaultUrl})."]);
        }

        return new MetricsSettings(enabledText is null || bool.Parse(enabledText), url, address);
    }
}
