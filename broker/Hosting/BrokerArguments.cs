using System.CommandLine;
using GitHubActionsPort.Protocol;
using GitHubActionsPort.Protocol.CommandLine;

namespace GitHubActionsPort.Broker.Hosting;

/// <summary>The broker's own flags, split from the ones handed to .NET configuration.</summary>
internal sealed record BrokerArguments(
    BrokerMode Mode,
    IReadOnlyList<string> ConfigFiles,
    IReadOnlyList<KeyValuePair<string, string>> DevTargets,
    string[] HostArgs,
    ExplainArguments? Explain = null)
{
    public bool Dev => Mode == BrokerMode.Dev;

    /// <summary>
    /// Configuration that ranks below every source (files, environment, command line): dev's side ports derived from
    /// <c>--port-base</c> or <c>--urls</c>, so an explicitly set one still wins.
    /// </summary>
    public IReadOnlyDictionary<string, string?> Defaults { get; init; } = new Dictionary<string, string?>();

    /// <summary>Parses a whole command line that runs, develops or explains; throws <see cref="ArgumentException"/> naming what is wrong.</summary>
    public static BrokerArguments Parse(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var cli = new BrokerCommandLine();
        var (own, switches) = SplitSwitches(args, cli.OptionNames());
        var result = cli.Parse(own);
        if (result.Errors.Count > 0)
        {
            throw new ArgumentException(CommandLineErrors.Describe(result));
        }

        return From(cli, result, switches);
    }

    /// <summary>
    /// Separates the configuration switches .NET's command-line configuration reads, <c>--Section:Key=VALUE</c> or
    /// <c>--Section:Key VALUE</c> (a key with a section: every broker setting has one), from the broker's own flags.
    /// Anything else is the parser's to accept or to refuse by name: a mistyped flag no longer vanishes into
    /// configuration nobody reads, nor swallows the argument after it.
    /// </summary>
    public static (List<string> Own, List<string> Switches) SplitSwitches(IReadOnlyList<string> args, IReadOnlySet<string> optionNames)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(optionNames);
        var own = new List<string>();
        var switches = new List<string>();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            var name = arg.Split('=', 2)[0];
            var colon = name.IndexOf(':', StringComparison.Ordinal);
            // "--config:FILE" is the parser's own NAME:VALUE form of a flag we know, not a key.
            if (!arg.StartsWith("--", StringComparison.Ordinal) || colon <= 2 || optionNames.Contains(name[..colon]))
            {
                own.Add(arg);
                continue;
            }

            switches.Add(arg);
            if (name.Length == arg.Length)
            {
                if (i + 1 >= args.Count || args[i + 1].StartsWith("--", StringComparison.Ordinal))
                {
                    throw new ArgumentException($"{arg} needs a value ({arg}=VALUE)");
                }

                switches.Add(args[++i]);
            }
        }

        return (own, switches);
    }

    /// <summary>The checked flags of a parse that chose run, dev or policy explain; <paramref name="switches"/> go to configuration.</summary>
    internal static BrokerArguments From(BrokerCommandLine cli, ParseResult result, IReadOnlyList<string> switches)
    {
        ArgumentNullException.ThrowIfNull(cli);
        ArgumentNullException.ThrowIfNull(result);
        var command = result.CommandResult.Command;
        if (cli.MisplacedRootFlags(result) is { } misplaced)
        {
            throw new ArgumentException(misplaced);
        }

        var (mode, config, urlsOption) = command == cli.Dev ? (BrokerMode.Dev, cli.DevConfig, cli.DevUrls)
            : command == cli.Explain ? (BrokerMode.PolicyExplain, cli.ExplainConfig, null)
            : command == cli.Run ? (BrokerMode.Run, cli.RunConfig, cli.RunUrls)
            : command == cli.Root ? (BrokerMode.Run, cli.RootConfig, cli.RootUrls)
            : throw new ArgumentException($"'{CommandLineErrors.Path(result.CommandResult)}' takes no configuration");

        var urls = urlsOption is null ? null : result.GetValue(urlsOption);
        var defaults = new Dictionary<string, string?>();
        var targets = new List<KeyValuePair<string, string>>();
        var explainDev = mode == BrokerMode.PolicyExplain && result.GetValue(cli.ExplainDev);
        var explainDevTargets = mode == BrokerMode.PolicyExplain ? result.GetValue(cli.ExplainDevTarget) ?? [] : [];
        if (explainDevTargets.Length > 0 && !explainDev)
        {
            throw new ArgumentException("--target belongs to 'policy explain --dev' (the dev broker's targets); for a --config policy, define targets under Broker:Targets");
        }

        if (mode == BrokerMode.Dev || explainDev)
        {
            foreach (var text in mode == BrokerMode.Dev ? result.GetValue(cli.DevTarget) ?? [] : explainDevTargets)
            {
                var eq = text.IndexOf('=', StringComparison.Ordinal);
                if (eq <= 0)
                {
                    throw new ArgumentException($"--target '{text}' is not NAME=HOST:PORT");
                }

                targets.Add(new(text[..eq], text[(eq + 1)..]));
            }

            if (mode == BrokerMode.Dev && result.GetValue(cli.DevPortBase) is { } portBase)
            {
                urls = urls is null
                    ? DevPorts.MainUrl(portBase)
                    : throw new ArgumentException("--port-base and --urls both place the job-facing port; give one (--urls moves dev's side ports with it)");
            }

            if (mode == BrokerMode.Dev && urls is not null)
            {
                defaults = DevPorts.SideSettings(urls);
            }

            if (mode == BrokerMode.Dev)
            {
                // A dev broker's issuer, keys and leases last one run: its state must not land in (or block jobs in)
                // the sqlite file a real broker on this host keeps beside its signing key. A configuration may still
                // name a store on purpose.
                defaults = new Dictionary<string, string?>(defaults) { ["Broker:Store:Kind"] = "memory" };
            }
        }

        ExplainArguments? explain = null;
        if (mode == BrokerMode.PolicyExplain)
        {
            var tokenFile = result.GetValue(cli.ExplainToken) ?? throw new ArgumentException("policy explain needs --token FILE (the id-token to judge; - reads it from standard input)");
            var explainTargets = result.GetValue(cli.ExplainTargets) is { } names ? ParseTargets(names) : null;
            explain = new ExplainArguments(tokenFile, explainTargets, !result.GetValue(cli.ExplainNoVerify), explainDev);
        }

        string[] hostArgs = urls is null ? [.. switches] : [.. switches, $"--urls={urls}"];
        return new BrokerArguments(mode, result.GetValue(config) ?? [], targets, hostArgs, explain) { Defaults = defaults };
    }

    private static List<string> ParseTargets(string text)
    {
        var names = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Distinct(StringComparer.Ordinal).ToList();
        if (names.Count == 0)
        {
            throw new ArgumentException("--targets needs NAME[,NAME...]");
        }

        if (names.FirstOrDefault(n => !TargetName.IsValid(n)) is { } bad)
        {
            throw new ArgumentException($"--targets: '{bad}' is not a target name ({TargetName.Rule})");
        }

        return names;
    }
}
