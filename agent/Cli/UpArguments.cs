using System.CommandLine;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using GitHubActionsPort.Protocol.CommandLine;

namespace GitHubActionsPort.Agent.Cli;

/// <summary>The flags of <c>ghaport up</c>, checked before anything touches the network.</summary>
public sealed record UpArguments
{
    public const string DefaultAudience = "ghaport";

    /// <summary>The most <c>--broker</c> URLs one agent takes: a failover list, not a scan.</summary>
    public const int MaxBrokers = 16;

    /// <summary>The first broker given; see <see cref="Brokers"/>.</summary>
    public Uri Broker => Brokers[0];

    /// <summary>
    /// Every broker given (<c>--broker</c>, repeatable), in order, none twice, all with one scheme: the session opens at
    /// the first that answers, and tunnels move to the next when the one in use goes away.
    /// </summary>
    public required IReadOnlyList<Uri> Brokers { get; init; }

    public required IReadOnlyList<ForwardSpec> Forwards { get; init; }

    public string Audience { get; init; } = DefaultAudience;

    public string? IdTokenFile { get; init; }

    public string? IdTokenEnv { get; init; }

    public TimeSpan? Ttl { get; init; }

    /// <summary>Run in the background and return once ready (<c>--detach</c>).</summary>
    public bool Detach { get; init; }

    /// <summary>How long <c>--detach</c> waits for readiness (<c>--timeout</c>). Default: 60 seconds.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Dial each target through the broker before reporting ready. On with <c>--detach</c> unless <c>--no-probe</c>.</summary>
    public bool Probe { get; init; }

    /// <summary>Where a background agent keeps its control socket, state and log (<c>--state-dir</c>).</summary>
    public string? StateDirectory { get; init; }

    /// <summary>This process is the background agent a <c>--detach</c> run started (internal flag).</summary>
    public bool Background { get; init; }

    /// <summary>
    /// The certificates of a private CA the broker's certificate must chain to (<c>--ca-cert FILE</c>, PEM, one or
    /// more); null trusts the system store.
    /// </summary>
    public X509Certificate2Collection? CaCertificates { get; init; }

    /// <summary>Which lane carries the tunnels (<c>--lane auto|raw|grpc</c>). Default: auto.</summary>
    public DataLane Lane { get; init; } = DataLane.Auto;

    /// <summary>
    /// Let a forward listen on an address other machines can reach (<c>--allow-remote-clients</c>). Off: a forward
    /// bound to anything but loopback is a usage error, since whoever reaches it uses the lease.
    /// </summary>
    public bool AllowRemoteClients { get; init; }

    /// <summary>
    /// Let any local user's process use a loopback forward (<c>--allow-any-local-user</c>). Off: on Linux a
    /// connection is served only when its socket belongs to this agent's user or root.
    /// </summary>
    public bool AllowAnyLocalUser { get; init; }

    /// <summary>The arguments as given, for starting the background agent with the same ones.</summary>
    public IReadOnlyList<string> Raw { get; init; } = [];

    private static X509Certificate2Collection ReadCaCertificates(string path)
    {
        var certificates = new X509Certificate2Collection();
        try
        {
            certificates.ImportFromPemFile(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"--ca-cert '{path}' cannot be read ({ex.Message})");
        }
        catch (CryptographicException ex)
        {
            throw new ArgumentException($"--ca-cert '{path}' is not a PEM certificate file ({ex.Message})");
        }

        if (certificates.Count == 0)
        {
            throw new ArgumentException($"--ca-cert '{path}' holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
        }

        return certificates;
    }

    /// <summary>
    /// Each <c>--broker</c> an http(s) URL, none given twice, and all with one scheme: a set of brokers is one
    /// deployment, and an agent that would fall back from TLS to plain text on failover would hand its lease to
    /// whoever can make the TLS brokers unreachable.
    /// </summary>
    private static List<Uri> ParseBrokers(string[] urls)
    {
        var brokers = new List<Uri>(urls.Length);
        foreach (var url in urls)
        {
            if (!Uri.TryCreate(url, UriKind.Absolute, out var broker) || (broker.Scheme != Uri.UriSchemeHttps && broker.Scheme != Uri.UriSchemeHttp))
            {
                throw new ArgumentException($"--broker '{url}' is not an http(s) URL, for example https://broker.internal:8470");
            }

            if (brokers.FirstOrDefault(b => Uri.Compare(b, broker, UriComponents.SchemeAndServer, UriFormat.SafeUnescaped, StringComparison.OrdinalIgnoreCase) == 0) is { } same)
            {
                throw new ArgumentException($"--broker '{url}' is given twice (as '{same}'); name each broker once");
            }

            if (brokers.Count > 0 && broker.Scheme != brokers[0].Scheme)
            {
                throw new ArgumentException(
                    $"--broker '{url}' is {broker.Scheme} but --broker '{brokers[0]}' is {brokers[0].Scheme}: every broker must use the same scheme (all https, or all http)");
            }

            brokers.Add(broker);
        }

        if (brokers.Count > MaxBrokers)
        {
            throw new ArgumentException($"--broker is given {brokers.Count} times; at most {MaxBrokers} brokers may be named");
        }

        return brokers;
    }

    /// <summary>Parses the arguments after <c>up</c>; throws <see cref="ArgumentException"/> naming what is wrong.</summary>
    public static UpArguments Parse(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var command = new UpCommand();
        var result = command.Parse(args, CommandLineErrors.Parsing);
        if (result.Errors.Count > 0)
        {
            throw new ArgumentException(CommandLineErrors.Describe(result));
        }

        return From(command, result, args);
    }

    /// <summary>The checked flags of a parse of <paramref name="command"/>; <paramref name="raw"/> are the arguments after <c>up</c> as given.</summary>
    internal static UpArguments From(UpCommand command, ParseResult result, IReadOnlyList<string> raw)
    {
        var brokers = ParseBrokers(result.GetValue(command.Broker) ?? []);
        var broker = brokers.Count > 0 ? brokers[0] : null;

        var forwards = (result.GetValue(command.Forward) ?? []).Select(ForwardSpec.Parse).ToList();
        var audience = result.GetValue(command.Audience) ?? DefaultAudience;
        if (string.IsNullOrWhiteSpace(audience))
        {
            throw new ArgumentException("--audience must not be empty");
        }

        var tokenFile = result.GetValue(command.IdTokenFile);
        var tokenEnv = result.GetValue(command.IdTokenEnv);
        var ttl = result.GetValue(command.Ttl);
        var detach = result.GetValue(command.Detach);
        var background = result.GetValue(command.Background);
        var noProbe = result.GetValue(command.NoProbe);
        var timeout = result.GetValue(command.Timeout) ?? TimeSpan.FromSeconds(60);
        var stateDirectory = result.GetValue(command.StateDir);
        if (stateDirectory is not null && string.IsNullOrWhiteSpace(stateDirectory))
        {
            throw new ArgumentException("--state-dir must not be empty");
        }

        var caCertificates = result.GetValue(command.CaCert) is { } caPath ? ReadCaCertificates(caPath) : null;
        var laneText = result.GetValue(command.Lane) ?? "auto";
        var lane = laneText switch
        {
            "auto" => DataLane.Auto,
            "raw" => DataLane.Raw,
            "grpc" => DataLane.Grpc,
            _ => throw new ArgumentException($"--lane '{laneText}' is not auto, raw or grpc"),
        };

        if (broker is null)
        {
            throw new ArgumentException("--broker URL is required");
        }

        if (forwards.Count == 0)
        {
            throw new ArgumentException("at least one --forward [BIND:]PORT:TARGET is required");
        }

        if (tokenFile is not null && tokenEnv is not null)
        {
            throw new ArgumentException("--id-token-file and --id-token-env are alternatives; give one");
        }

        var duplicate = forwards.GroupBy(f => f.Listen).FirstOrDefault(g => g.Key.Port != 0 && g.Count() > 1);
        if (duplicate is not null)
        {
            throw new ArgumentException($"{duplicate.Key} is forwarded twice");
        }

        var allowRemoteClients = result.GetValue(command.AllowRemoteClients);
        if (!allowRemoteClients && forwards.FirstOrDefault(f => !f.IsLoopback) is { } remote)
        {
            throw new ArgumentException(
                $"--forward {remote.Listen} -> {remote.Target} listens on an address other machines can reach, and whoever reaches it uses the lease; " +
                "listen on 127.0.0.1 (the default), or give --allow-remote-clients if that is meant");
        }

        if (caCertificates is not null && broker.Scheme != Uri.UriSchemeHttps)
        {
            throw new ArgumentException($"--ca-cert verifies the broker's TLS certificate; --broker '{broker}' is not an https URL");
        }

        if (detach && background)
        {
            throw new ArgumentException("--detach starts a background agent; it cannot be one");
        }

        return new UpArguments
        {
            Brokers = brokers,
            Forwards = forwards,
            Audience = audience,
            IdTokenFile = tokenFile,
            IdTokenEnv = tokenEnv,
            Ttl = ttl,
            Detach = detach,
            Background = background,
            Probe = (detach || background) && !noProbe,
            Timeout = timeout,
            StateDirectory = stateDirectory,
            CaCertificates = caCertificates,
            Lane = lane,
            AllowRemoteClients = allowRemoteClients,
            AllowAnyLocalUser = result.GetValue(command.AllowAnyLocalUser),
            Raw = raw.ToArray(),
        };
    }
}
