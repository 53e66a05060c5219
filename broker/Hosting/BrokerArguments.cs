namespace GitHubActionsPort.Broker.Hosting;

/// <summary>The broker's own flags, split from the ones handed to .NET configuration.</summary>
internal sealed record BrokerArguments(bool Dev, IReadOnlyList<string> ConfigFiles, IReadOnlyList<KeyValuePair<string, string>> DevTargets, string[] HostArgs)
{
    public static BrokerArguments Parse(string[] args)
    {
        var dev = false;
        var files = new List<string>();
        var targets = new List<KeyValuePair<string, string>>();
        var rest = new List<string>();
        var start = 0;
        if (args.Length > 0 && !args[0].StartsWith('-'))
        {
            dev = args[0] switch
            {
                "run" => false,
                "dev" => true,
                _ => throw new ArgumentException($"unknown command '{args[0]}'"),
            };
            start = 1;
        }

        for (var i = start; i < args.Length; i++)
        {
            var (name, value) = SplitFlag(args, ref i);
            switch (name)
            {
                case "--config":
                    files.Add(value ?? throw new ArgumentException("--config needs a file"));
                    break;
                case "--target" when dev:
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
                default:
                    rest.Add(args[i]);
                    break;
            }
        }

        return new BrokerArguments(dev, files, targets, rest.ToArray());
    }

    /// <summary>Reads <c>--name value</c> or <c>--name=value</c> for the broker's own flags; other args pass through untouched.</summary>
    private static (string Name, string? Value) SplitFlag(string[] args, ref int i)
    {
        var arg = args[i];
        var eq = arg.IndexOf('=', StringComparison.Ordinal);
        var name = eq > 0 ? arg[..eq] : arg;
        if (name is not ("--config" or "--target"))
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
