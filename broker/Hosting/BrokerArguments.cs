using GitHubActionsPort.Protocol;

namespace GitHubActionsPort.Broker.Hosting;

/// <summary>The broker's own flags, split from the ones handed to .NET configuration.</summary>
internal sealed record BrokerArguments(
    BrokerMode Mode,
    IReadOnlyList<string> ConfigFiles,
    IReadOnlyList<KeyValuePair<string, string>> DevTargets,
    string[] HostArgs,
    ExplainArguments? Explain = null)
{
    private static readonly string[] ValueFlags = ["--config", "--target", "--token", "--targets"];

    public bool Dev => Mode == BrokerMode.Dev;

    public static BrokerArguments Parse(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var mode = BrokerMode.Run;
        var files = new List<string>();
        var targets = new List<KeyValuePair<string, string>>();
        var rest = new List<string>();
        string? tokenFile = null;
        List<string>? explainTargets = null;
        var verify = true;
        var explainDev = false;
        var start = 0;
        if (args.Length > 0 && !args[0].StartsWith('-'))
        {
            (mode, start) = args[0] switch
            {
                "run" => (BrokerMode.Run, 1),
                "dev" => (BrokerMode.Dev, 1),
                "policy" when args.Length > 1 && args[1] == "explain" => (BrokerMode.PolicyExplain, 2),
                "policy" => throw new ArgumentException($"unknown policy command '{(args.Length > 1 ? args[1] : string.Empty)}'; try 'policy explain'"),
                _ => throw new ArgumentException($"unknown command '{args[0]}'"),
            };
        }

        var explain = mode == BrokerMode.PolicyExplain;
        for (var i = start; i < args.Length; i++)
        {
            var (name, value) = SplitFlag(args, ref i);
            switch (name)
            {
                case "--config":
                    files.Add(value ?? throw new ArgumentException("--config needs a file"));
                    break;
                case "--target" when mode is BrokerMode.Dev or BrokerMode.PolicyExplain:
                    var text = value ?? throw new ArgumentException("--target needs NAME=HOST:PORT");
                    var eq = text.IndexOf('=', StringComparison.Ordinal);
                    if (eq <= 0)
                    {
                        throw new ArgumentException($"--target '{text}' is not NAME=HOST:PORT");
                    }

                    targets.Add(new(text[..eq], text[(eq + 1)..]));
                    break;
                case "--target":
                    throw new ArgumentException("--target belongs to 'ghaport-broker dev'; for 'run', define targets under Broker:Targets");
                case "--token" when explain:
                    tokenFile = value ?? throw new ArgumentException("--token needs a file (or - for standard input)");
                    break;
                case "--targets" when explain:
                    explainTargets = ParseTargets(value ?? throw new ArgumentException("--targets needs NAME[,NAME...]"));
                    break;
                case "--no-verify" when explain && args[i] == "--no-verify":
                    verify = false;
                    break;
                case "--no-verify" when explain:
                    throw new ArgumentException("--no-verify takes no value");
                case "--dev" when explain && args[i] == "--dev":
                    explainDev = true;
                    break;
                case "--token" or "--targets" or "--no-verify":
                    throw new ArgumentException($"{name} belongs to 'ghaport-broker policy explain'");
                default:
                    rest.Add(args[i]);
                    break;
            }
        }

        ExplainArguments? explainArguments = null;
        if (explain)
        {
            if (targets.Count > 0 && !explainDev)
            {
                throw new ArgumentException("--target belongs to 'policy explain --dev' (the dev broker's targets); for a --config policy, define targets under Broker:Targets");
            }

            explainArguments = new ExplainArguments(tokenFile ?? throw new ArgumentException("policy explain needs --token FILE (the id-token to judge; - reads it from standard input)"), explainTargets, verify, explainDev);
        }

        return new BrokerArguments(mode, files, targets, rest.ToArray(), explainArguments);
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

    /// <summary>Reads <c>--name value</c> or <c>--name=value</c> for the broker's own flags; other args pass through untouched.</summary>
    private static (string Name, string? Value) SplitFlag(string[] args, ref int i)
    {
        var arg = args[i];
        var eq = arg.IndexOf('=', StringComparison.Ordinal);
        var name = eq > 0 ? arg[..eq] : arg;
        if (!ValueFlags.Contains(name, StringComparer.Ordinal))
        {
            return (name, null);
        }

        if (eq > 0)
        {
            return (name, arg[(eq + 1)..]);
        }

        return i + 1 < args.Length ? (name, args[++i]) : (name, null);
    }
}
