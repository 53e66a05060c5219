using System.CommandLine;
using GitHubActionsPort.Broker.Admin;
using GitHubActionsPort.Protocol.CommandLine;

namespace GitHubActionsPort.Broker.Hosting;

/// <summary>
/// The commands and flags of <c>ghaport-broker</c>, with help per command, <c>--version</c>, suggestions for a
/// mistyped flag, and shell completion through the <c>[suggest]</c> directive (dotnet-suggest). The root command is
/// <c>run</c>, so <c>ghaport-broker --config FILE</c> serves.
/// </summary>
internal sealed class BrokerCommandLine
{
    public const string ExitCodesHelp = """
        Exit codes: 0 stopped (policy explain: would grant; health: healthy), 1 unexpected failure (health: unhealthy or
                    not answering), 2 bad command line or configuration,
                    3 cannot listen, 4 (sessions) admin endpoint unreachable, 5 (policy explain) token fails
                    verification, (sessions) credential refused, 6 (policy explain) would deny, (sessions) no such
                    lease or block, 8 (audit verify) trail broken.
        """;

    private const string RunHelp = "Serve sessions and tunnels from the Broker configuration section (JSON file, environment, command line). "
        + "The --config file is watched: a valid change to its targets, rules or lease lengths takes effect at once, and leases the new "
        + "policy would not grant are ended. Any configuration key can be given as --Section:Key=VALUE (e.g. --Broker:Leases:DefaultTtl=30m).";

    public BrokerCommandLine()
    {
        Root = new RootCommand($"""
            ghaport-broker: checks a CI job's OIDC id-token against a policy, grants a time-boxed lease, and splices raw TCP
            between the job's agent and one named internal service. Without a command it runs (see 'run --help').

            {ExitCodesHelp}
            """);
        ProgramVersion.Use(Root, "ghaport-broker", typeof(BrokerCommandLine).Assembly);
        (RootConfig, RootUrls) = AddServeOptions(Root);

        Run = new Command("run", RunHelp);
        (RunConfig, RunUrls) = AddServeOptions(Run);
        Root.Subcommands.Add(Run);

        Dev = new Command("dev", "As run, plus a development OIDC issuer on loopback that mints GitHub-shaped tokens for acme/app; prints the "
            + "ACTIONS_ID_TOKEN_REQUEST_* values that point the agent at it. Rules from the configuration must name their Issuer, so dev tokens "
            + "can never satisfy them. Its four ports sit side by side: BASE job-facing (gRPC), BASE+1 admin, BASE+2 raw lane, BASE+3 metrics; "
            + "--port-base sets BASE, and --urls moves the side ports with its port too.");
        (DevConfig, DevUrls) = AddServeOptions(Dev);
        Dev.Options.Add(DevTarget);
        Dev.Options.Add(DevPortBase);
        Root.Subcommands.Add(Dev);

        Explain = new Command("explain", "Judge an id-token (read from FILE, or - for standard input; never printed) against the policy, rule by "
            + "rule, and print the lease it would get. The signature, audience and lifetime are checked against the issuer unless --no-verify. "
            + "With --dev (and the same --target flags), the policy is the one 'ghaport-broker dev' runs, its development issuer the token's. "
            + "Exit 0 would grant, 6 would deny, 5 the token fails verification, 2 bad command line or configuration.");
        Explain.Options.Add(ExplainToken);
        Explain.Options.Add(ExplainDev);
        Explain.Options.Add(ExplainDevTarget);
        Explain.Options.Add(ExplainTargets);
        Explain.Options.Add(ExplainNoVerify);
        Explain.Options.Add(ExplainConfig);
        var policy = new Command("policy", "Questions about the policy.");
        policy.Subcommands.Add(Explain);
        Root.Subcommands.Add(policy);

        Root.Subcommands.Add(Sessions);

        AuditVerify = new Command("verify", "Check the audit trail FILE (and its rotated files, FILE.*) link by link. Exit 0 intact, "
            + "8 broken (the first broken record is named), 2 no such trail.");
        AuditVerify.Arguments.Add(AuditFile);
        var audit = new Command("audit", "The audit trail.");
        audit.Subcommands.Add(AuditVerify);
        Root.Subcommands.Add(audit);

        StoreMigrate = new Command("migrate", "Open the state store the configuration names (Broker:Store) and create or migrate its schema, as "
            + "start-up would, then print the store and its schema version. Exit 0 done, 1 the store cannot be reached (the cause is named), "
            + "2 bad command line or configuration.");
        StoreMigrate.Options.Add(StoreMigrateConfig);
        var store = new Command("store", "The broker's state store.");
        store.Subcommands.Add(StoreMigrate);
        Root.Subcommands.Add(store);

        Health = new Command("health", "GET /healthz from this host's broker (--url, else Broker:Metrics:Url from the configuration, a "
            + "wildcard address dialled as loopback) and print one line: exit 0 healthy, 1 unhealthy, not listening or no answer within "
            + $"{HealthCommand.Timeout.TotalSeconds:0} s, 2 bad command line or configuration. For a container's health check (the image has no shell or curl).");
        Health.Options.Add(HealthUrl);
        Health.Options.Add(HealthConfig);
        Root.Subcommands.Add(Health);

        // The root serves: it must have an action when parsed, or the parser asks for a command. Each program run
        // sets the real ones (BrokerCommand.RunAsync); a parse alone (BrokerArguments.Parse) never invokes it.
        Serve((_, _) => throw new InvalidOperationException("no action set for serving"));
    }

    /// <summary>Sets what run, dev, policy explain (and the root, which is run) do.</summary>
    public void Serve(Func<ParseResult, CancellationToken, Task<int>> action)
    {
        foreach (var command in new[] { Root, Run, Dev, Explain })
        {
            command.SetAction(action);
        }
    }

    public RootCommand Root { get; }

    public Command Run { get; }

    public Command Dev { get; }

    public Command Explain { get; }

    public SessionsCommandLine Sessions { get; } = new();

    public Command AuditVerify { get; }

    public Command StoreMigrate { get; }

    public Option<string[]> StoreMigrateConfig { get; } = ConfigOption();

    public Command Health { get; }

    public Option<string> HealthUrl { get; } = new("--url")
    {
        Description = "the broker's metrics listener, http://HOST:PORT (default: Broker:Metrics:Url from the configuration, else http://127.0.0.1:9471)",
        HelpName = "URL",
    };

    public Option<string[]> HealthConfig { get; } = ConfigOption();

    public Option<string[]> RootConfig { get; }

    public Option<string> RootUrls { get; }

    public Option<string[]> RunConfig { get; }

    public Option<string> RunUrls { get; }

    public Option<string[]> DevConfig { get; }

    public Option<string> DevUrls { get; }

    public Option<string[]> DevTarget { get; } = new("--target")
    {
        Description = "a target the dev rule opens to acme/app tokens (repeatable)",
        HelpName = "NAME=HOST:PORT",
        AllowMultipleArgumentsPerToken = false,
    };

    public Option<int?> DevPortBase { get; } = CreatePortBase();

    public Option<string> ExplainToken { get; } = new("--token") { Description = "file holding the id-token to judge (- reads standard input)", HelpName = "FILE" };

    public Option<string> ExplainTargets { get; } = new("--targets") { Description = "targets to decide for (default: every target a matching rule opens)", HelpName = "NAME,..." };

    public Option<bool> ExplainDev { get; } = new("--dev") { Description = "judge against the policy 'ghaport-broker dev' runs (its issuer is the token's, on loopback)" };

    public Option<string[]> ExplainDevTarget { get; } = new("--target")
    {
        Description = "with --dev: a target the dev rule opens, as given to 'ghaport-broker dev' (repeatable)",
        HelpName = "NAME=HOST:PORT",
        AllowMultipleArgumentsPerToken = false,
    };

    public Option<bool> ExplainNoVerify { get; } = new("--no-verify") { Description = "skip the signature, audience and lifetime checks" };

    public Option<string[]> ExplainConfig { get; } = ConfigOption();

    public Argument<string> AuditFile { get; } = new("FILE") { Description = "the audit trail (Broker:Audit:Path)" };

    /// <summary>Every flag name the command line knows, so a <c>--name:value</c> of ours is never taken for a configuration key.</summary>
    public IReadOnlySet<string> OptionNames() => Commands(Root).SelectMany(c => c.Options).SelectMany(o => o.Aliases.Append(o.Name)).ToHashSet(StringComparer.Ordinal);

    /// <summary>
    /// What is wrong when the root's own flags come before a command (<c>--config FILE dev</c>): they belong to the
    /// root (run) and the command would never see them. Null when nothing is.
    /// </summary>
    public string? MisplacedRootFlags(ParseResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        return result.CommandResult.Command != Root && (result.GetResult(RootConfig) is not null || result.GetResult(RootUrls) is not null)
            ? $"--config and --urls go after the command: '{CommandLineErrors.Path(result.CommandResult)} --config FILE'"
            : null;
    }

    public ParseResult Parse(IReadOnlyList<string> args) => Root.Parse(args, CommandLineErrors.Parsing);

    private static IEnumerable<Command> Commands(Command command) => command.Subcommands.SelectMany(Commands).Prepend(command);

    private static Option<string[]> ConfigOption() => new("--config")
    {
        Description = "a JSON configuration file (repeatable; later files win, environment variables and --Section:Key switches win over files)",
        HelpName = "FILE",
        AllowMultipleArgumentsPerToken = false,
    };

    private static (Option<string[]> Config, Option<string> Urls) AddServeOptions(Command command)
    {
        var config = ConfigOption();
        var urls = new Option<string>("--urls") { Description = $"where to listen, URL[;URL...] (default {BrokerHost.DefaultUrl})", HelpName = "URL" };
        command.Options.Add(config);
        command.Options.Add(urls);
        return (config, urls);
    }

    private static Option<int?> CreatePortBase()
    {
        var option = new Option<int?>("--port-base")
        {
            Description = $"dev's four ports from N: N job-facing, N+1 admin, N+2 raw lane, N+3 metrics, all on 127.0.0.1 (0: each from the OS; at most {DevPorts.MaxBase})",
            HelpName = "N",
        };
        option.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int?>() is < 0 or > DevPorts.MaxBase)
            {
                result.AddError($"--port-base must be from 0 to {DevPorts.MaxBase}");
            }
        });
        return option;
    }
}
