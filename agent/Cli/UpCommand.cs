using System.CommandLine;
using GitHubActionsPort.Protocol.CommandLine;

namespace GitHubActionsPort.Agent.Cli;

/// <summary><c>ghaport up</c>: its flags, their help, and the step from a parse to <see cref="UpArguments"/>.</summary>
internal sealed class UpCommand : Command
{
    /// <summary>The longest <c>--timeout</c>: a day is past any job's patience, and a timer takes no more.</summary>
    public static readonly TimeSpan MaxTimeout = TimeSpan.FromDays(1);

    public UpCommand()
        : base("up", "Open a lease on the named targets and listen on loopback for each forward; print 'ready ADDRESS -> TARGET' "
            + "per forward when it accepts connections. Stop it with Ctrl-C or SIGTERM, or, with --detach, with 'ghaport down'.")
    {
        Options.Add(Broker);
        Options.Add(Forward);
        Options.Add(Audience);
        Options.Add(IdTokenFile);
        Options.Add(IdTokenEnv);
        Options.Add(Ttl);
        Options.Add(Lane);
        Options.Add(CaCert);
        Options.Add(Detach);
        Options.Add(Timeout);
        Options.Add(NoProbe);
        Options.Add(StateDir);
        Options.Add(AllowRemoteClients);
        Options.Add(AllowAnyLocalUser);
        Options.Add(Background);
    }

    public Option<string[]> Broker { get; } = new("--broker")
    {
        Description = "the broker, e.g. https://broker.internal:8470; repeat it (or name a host with several addresses) for several "
            + "instances: the session opens at the first that answers, and tunnels move to the next when one goes away",
        HelpName = "URL",
        AllowMultipleArgumentsPerToken = false,
    };

    public Option<string[]> Forward { get; } = new("--forward")
    {
        Description = "[BIND:]PORT:TARGET; BIND defaults to 127.0.0.1, PORT 0 picks a free port (repeatable)",
        HelpName = "SPEC",
        AllowMultipleArgumentsPerToken = false,
    };

    public Option<string> Audience { get; } = new("--audience") { Description = $"audience of the id-token to request (default: {UpArguments.DefaultAudience})", HelpName = "AUD" };

    public Option<string> IdTokenFile { get; } = new("--id-token-file") { Description = "read the id-token from FILE instead of GitHub Actions", HelpName = "FILE" };

    public Option<string> IdTokenEnv { get; } = new("--id-token-env") { Description = "read the id-token from environment variable VAR", HelpName = "VAR" };

    public Option<TimeSpan?> Ttl { get; } = DurationOption.Create("--ttl", "lease length to ask for, e.g. 30m or 01:30:00 (the broker caps it)");

    public Option<string> Lane { get; } = CreateLane();

    public Option<string> CaCert { get; } = new("--ca-cert")
    {
        Description = "PEM file of the CA certificate(s) the broker's TLS certificate must chain to, instead of the system store (https brokers only)",
        HelpName = "FILE",
    };

    public Option<bool> Detach { get; } = new("--detach") { Description = "run in the background; return once every target answers through the broker" };

    public Option<TimeSpan?> Timeout { get; } = DurationOption.Create("--timeout", "how long --detach waits for that (default 60s)", MaxTimeout);

    public Option<bool> NoProbe { get; } = new("--no-probe") { Description = "with --detach, do not dial the targets first (only the forwards must listen)" };

    public Option<string> StateDir { get; } = new("--state-dir")
    {
        Description = "where a background agent keeps its control socket and log (default: $RUNNER_TEMP/ghaport in GitHub Actions, else the temp folder)",
        HelpName = "DIR",
    };

    public Option<bool> AllowRemoteClients { get; } = new("--allow-remote-clients") { Description = "allow a forward to bind a non-loopback address" };

    public Option<bool> AllowAnyLocalUser { get; } = new("--allow-any-local-user")
    {
        Description = "accept local connections from other users' processes (Linux checks the peer's uid by default)",
    };

    /// <summary>This process is the background agent a <c>--detach</c> run started: not for people to type.</summary>
    public Option<bool> Background { get; } = new("--background") { Hidden = true };

    private static Option<string> CreateLane()
    {
        var lane = new Option<string>("--lane")
        {
            Description = "how tunnels reach the broker: raw (a TCP/TLS connection each, fastest), grpc (a stream each on one HTTP/2 channel, passes HTTP/2 proxies), or auto (default: raw when the broker offers it and it answers, else grpc)",
            HelpName = "auto|raw|grpc",
        };
        lane.CompletionSources.Add("auto", "raw", "grpc");
        return lane;
    }
}
