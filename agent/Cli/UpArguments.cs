using System.Globalization;

namespace GitHubActionsPort.Agent.Cli;

/// <summary>The flags of <c>ghaport up</c>, checked before anything touches the network.</summary>
public sealed record UpArguments
{
    public const string DefaultAudience = "ghaport";

    public required Uri Broker { get; init; }

    public required IReadOnlyList<ForwardSpec> Forwards { get; init; }

    public string Audience { get; init; } = DefaultAudience;

    public string? IdTokenFile { get; init; }

    public string? IdTokenEnv { get; init; }

    public TimeSpan? Ttl { get; init; }

    public static UpArguments Parse(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        Uri? broker = null;
        var forwards = new List<ForwardSpec>();
        string audience = DefaultAudience;
        string? tokenFile = null;
        string? tokenEnv = null;
        TimeSpan? ttl = null;

        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            var eq = arg.IndexOf('=', StringComparison.Ordinal);
            var name = arg.StartsWith("--", StringComparison.Ordinal) && eq > 0 ? arg[..eq] : arg;
            string Value() => eq > 0 && name != arg ? arg[(eq + 1)..]
                : i + 1 < args.Count ? args[++i]
                : throw new ArgumentException($"{name} needs a value");

            switch (name)
            {
                case "--broker":
                    var url = Value();
                    if (!Uri.TryCreate(url, UriKind.Absolute, out broker) || (broker.Scheme != Uri.UriSchemeHttps && broker.Scheme != Uri.UriSchemeHttp))
                    {
                        throw new ArgumentException($"--broker '{url}' is not an http(s) URL, for example https://broker.internal:8470");
                    }

                    break;
                case "--forward":
                    forwards.Add(ForwardSpec.Parse(Value()));
                    break;
                case "--audience":
                    audience = Value();
                    if (string.IsNullOrWhiteSpace(audience))
                    {
                        throw new ArgumentException("--audience must not be empty");
                    }

                    break;
                case "--id-token-file":
                    tokenFile = Value();
                    break;
                case "--id-token-env":
                    tokenEnv = Value();
                    break;
                case "--ttl":
                    var text = Value();
                    if (!TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var parsed) || parsed <= TimeSpan.Zero)
                    {
                        throw new ArgumentException($"--ttl '{text}' is not a positive duration (hh:mm:ss)");
                    }

                    ttl = parsed;
                    break;
                default:
                    throw new ArgumentException($"unknown argument '{arg}'");
            }
        }

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

        return new UpArguments
        {
            Broker = broker,
            Forwards = forwards,
            Audience = audience,
            IdTokenFile = tokenFile,
            IdTokenEnv = tokenEnv,
            Ttl = ttl,
        };
    }
}
