using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using GitHubActionsPort.Broker.Configuration;
using GitHubActionsPort.Broker.Telemetry;

namespace GitHubActionsPort.Broker.Hosting;

/// <summary>
/// <c>ghaport-broker health</c>: asks the broker's <c>/healthz</c> whether it is healthy, for a container's health
/// check where the image has no shell and no curl. The address is <c>--url</c>, else <c>Broker:Metrics:Url</c> from
/// the configuration (<c>--config</c> files, <c>Broker__Metrics__Url</c>, <c>--Broker:Metrics:Url=</c>), a wildcard
/// host (<c>0.0.0.0</c>, <c>[::]</c>) meaning this host's loopback. One line either way; exit 0 healthy (200), 1
/// anything else (503 with the broker's reason, nothing listening, no answer within <see cref="Timeout"/>), 2 bad
/// command line or configuration.
/// </summary>
internal static class HealthCommand
{
    public const int ExitHealthy = 0;
    public const int ExitUnhealthy = 1;

    /// <summary>The whole request, connecting included: well inside a container runtime's own check timeout (30 s by default).</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    /// <summary>The most of an answer's body quoted: /healthz answers a word or three.</summary>
    private const int MaxQuoted = 200;

    public static async Task<int> RunAsync(string? urlText, IReadOnlyList<string> configFiles, IReadOnlyList<string> switches, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(configFiles);
        ArgumentNullException.ThrowIfNull(switches);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        Uri url;
        try
        {
            url = urlText is null ? FromConfiguration(configFiles, switches) : FromFlag(urlText);
        }
        catch (ArgumentException ex)
        {
            await error.WriteLineAsync($"ghaport-broker: {ex.Message}").ConfigureAwait(false);
            return BrokerCommand.ExitConfiguration;
        }
        catch (BrokerConfigurationException ex)
        {
            await error.WriteLineAsync($"ghaport-broker: {ex.Message}").ConfigureAwait(false);
            return BrokerCommand.ExitConfiguration;
        }
        catch (Exception ex) when (ex is FileNotFoundException or InvalidDataException)
        {
            await error.WriteLineAsync($"ghaport-broker: configuration file unusable: {ex.Message}").ConfigureAwait(false);
            return BrokerCommand.ExitConfiguration;
        }

        // No proxy: the question is about this broker, and a proxy from the environment would answer for it.
        using var handler = new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false, ConnectTimeout = Timeout };
        using var client = new HttpClient(handler) { Timeout = System.Threading.Timeout.InfiniteTimeSpan };
        using var deadline = new CancellationTokenSource(Timeout);
        try
        {
            using var response = await client.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, deadline.Token).ConfigureAwait(false);
            var said = await QuoteAsync(response.Content, deadline.Token).ConfigureAwait(false);
            var status = string.Create(CultureInfo.InvariantCulture, $"{(int)response.StatusCode}{(said.Length > 0 ? " " + said : string.Empty)}");
            if (response.StatusCode == HttpStatusCode.OK)
            {
                await output.WriteLineAsync($"healthy: {url} answered {status}").ConfigureAwait(false);
                return ExitHealthy;
            }

            await error.WriteLineAsync($"ghaport-broker: unhealthy: {url} answered {status}").ConfigureAwait(false);
            return ExitUnhealthy;
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            await error.WriteLineAsync($"ghaport-broker: unhealthy: no answer from {url} within {Timeout.TotalSeconds:0} s").ConfigureAwait(false);
            return ExitUnhealthy;
        }
        catch (HttpRequestException ex)
        {
            var why = ex.InnerException is SocketException socket ? socket.Message : ex.Message;
            await error.WriteLineAsync($"ghaport-broker: unhealthy: nothing answers at {url} ({why.TrimEnd('.')})").ConfigureAwait(false);
            return ExitUnhealthy;
        }
    }

    /// <summary>
    /// <c>--url</c>: the metrics listener (<c>http://HOST:PORT</c>, /healthz is added) or the full /healthz URL.
    /// </summary>
    internal static Uri FromFlag(string text)
    {
        if (!Uri.TryCreate(text, UriKind.Absolute, out var url) || url.Scheme != Uri.UriSchemeHttp || !string.IsNullOrEmpty(url.Query) || !string.IsNullOrEmpty(url.UserInfo))
        {
            throw new ArgumentException($"--url '{text}' is not http://HOST:PORT (the broker's Broker:Metrics:Url, which serves /healthz)");
        }

        return Healthz(url);
    }

    private static Uri FromConfiguration(IReadOnlyList<string> configFiles, IReadOnlyList<string> switches)
    {
        var settings = MetricsSettings.Read(CommandConfiguration.Read(configFiles, switches));
        if (!settings.Enabled)
        {
            throw new ArgumentException("Broker:Metrics:Enabled is false: nothing serves /healthz (enable it, or give --url)");
        }

        if (settings.Url.Port == 0)
        {
            throw new ArgumentException("Broker:Metrics:Url has port 0 (the OS picks one at each start): give --url with the port the broker logged");
        }

        return Healthz(settings.Url);
    }

    /// <summary>The /healthz URL on <paramref name="listener"/>, a wildcard address dialled as loopback.</summary>
    private static Uri Healthz(Uri listener)
    {
        var builder = new UriBuilder(listener);
        if (IPAddress.TryParse(listener.Host.Trim('[', ']'), out var address))
        {
            if (address.Equals(IPAddress.Any))
            {
                builder.Host = IPAddress.Loopback.ToString();
            }
            else if (address.Equals(IPAddress.IPv6Any))
            {
                builder.Host = "[" + IPAddress.IPv6Loopback + "]";
            }
        }

        if (builder.Path is "" or "/")
        {
            builder.Path = "/healthz";
        }

        return builder.Uri;
    }

    /// <summary>The first line of the body, at most <see cref="MaxQuoted"/> characters, control characters dropped.</summary>
    private static async Task<string> QuoteAsync(HttpContent content, CancellationToken cancellationToken)
    {
        var stream = await content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            var buffer = new byte[MaxQuoted];
            var read = await stream.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
            var text = Encoding.UTF8.GetString(buffer, 0, read);
            var line = text.Split('\n', 2)[0];
            return new string([.. line.Where(c => !char.IsControl(c))]).Trim();
        }
    }
}
