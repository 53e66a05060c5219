using System.Globalization;

namespace GitHubActionsPort.Broker.Hosting;

/// <summary>
/// The four ports of <c>ghaport-broker dev</c>, side by side so a second dev broker moves them all with one number:
/// BASE the job-facing gRPC port (<c>--urls</c>), BASE+1 the admin endpoint (<c>Broker:Admin:Url</c>), BASE+2 the
/// raw lane (<c>Broker:Lanes:Raw:Url</c>), BASE+3 metrics and health (<c>Broker:Metrics:Url</c>). Base 0 takes
/// every port from the OS. A side port set explicitly (file, environment, command line) wins over the derived one.
/// </summary>
internal static class DevPorts
{
    /// <summary>The highest base: its three side ports must still be ports.</summary>
    public const int MaxBase = 65535 - 3;

    /// <summary>The job-facing URL of a <c>--port-base</c>.</summary>
    public static string MainUrl(int portBase) => string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{portBase}");

    /// <summary>
    /// The side ports for a job-facing URL list (<c>--urls</c>, the first URL counts): each the next port up, or 0
    /// when its port is 0. Admin and metrics stay on loopback; the raw lane follows the URL's scheme and host.
    /// </summary>
    public static Dictionary<string, string?> SideSettings(string urls)
    {
        ArgumentNullException.ThrowIfNull(urls);
        var first = urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? string.Empty;
        // Kestrel's wildcards ("http://*:8470", "http://+:8470") are not host names Uri accepts as they are.
        first = first.Replace("://*", "://0.0.0.0", StringComparison.Ordinal).Replace("://+", "://0.0.0.0", StringComparison.Ordinal);
        if (!Uri.TryCreate(first, UriKind.Absolute, out var main) || main.Scheme is not ("http" or "https"))
        {
            // Kestrel names a URL it cannot use better than a guess here could.
            return [];
        }

        if (main.Port > MaxBase)
        {
            throw new ArgumentException($"--urls port {main.Port} leaves no room for dev's side ports (the next three); use a port of at most {MaxBase}, or --port-base");
        }

        int Side(int offset) => main.Port == 0 ? 0 : main.Port + offset;
        var rawHost = main.Host == "localhost" ? "127.0.0.1" : main.Host;
        return new Dictionary<string, string?>
        {
            ["Broker:Admin:Url"] = string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{Side(1)}"),
            ["Broker:Lanes:Raw:Url"] = string.Create(CultureInfo.InvariantCulture, $"{main.Scheme}://{rawHost}:{Side(2)}"),
            ["Broker:Metrics:Url"] = string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{Side(3)}"),
        };
    }
}
