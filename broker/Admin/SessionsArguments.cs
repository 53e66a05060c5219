namespace GitHubActionsPort.Broker.Admin;

/// <summary>The flags of <c>ghaport-broker sessions list|revoke|unblock</c>.</summary>
internal sealed record SessionsArguments
{
    public required string Command { get; init; }

    public IReadOnlyList<string> ConfigFiles { get; init; } = [];

    public Uri? AdminUrl { get; init; }

    public string? AdminTokenFile { get; init; }

    public bool Json { get; init; }

    public string? LeaseId { get; init; }

    public IReadOnlyDictionary<string, string> Claims { get; init; } = new Dictionary<string, string>();

    public bool Block { get; init; }

    public string? Reason { get; init; }

    public string? BlockId { get; init; }

    /// <summary>Parses the arguments after <c>sessions</c>; throws <see cref="ArgumentException"/> with what is wrong.</summary>
    public static SessionsArguments Parse(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (args.Count == 0 || args[0] is not ("list" or "revoke" or "unblock"))
        {
            throw new ArgumentException($"sessions needs list, revoke or unblock{(args.Count > 0 ? $", not '{args[0]}'" : string.Empty)}");
        }

        var command = args[0];
        var files = new List<string>();
        var claims = new Dictionary<string, string>(StringComparer.Ordinal);
        Uri? url = null;
        string? tokenFile = null, leaseId = null, reason = null, blockId = null;
        bool json = false, block = false;
        for (var i = 1; i < args.Count; i++)
        {
            var arg = args[i];
            var eq = arg.StartsWith("--", StringComparison.Ordinal) ? arg.IndexOf('=', StringComparison.Ordinal) : -1;
            var name = eq > 0 ? arg[..eq] : arg;
            string Value() => eq > 0 ? arg[(eq + 1)..] : i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{name} needs a value");
            switch (name)
            {
                case "--config":
                    files.Add(Value());
                    break;
                case "--admin-url":
                    var text = Value();
                    url = Uri.TryCreate(text, UriKind.Absolute, out var parsed) && parsed.Scheme == Uri.UriSchemeHttp
                        ? parsed
                        : throw new ArgumentException($"--admin-url '{text}' is not an http:// URL");
                    break;
                case "--admin-token-file":
                    tokenFile = Value();
                    break;
                case "--json" when command == "list":
                    json = true;
                    break;
                case "--lease" when command == "revoke":
                    leaseId = leaseId is null ? Value() : throw new ArgumentException("--lease names one lease; revoke them one at a time, or by --claim");
                    break;
                case "--claim" when command == "revoke":
                    var claim = Value();
                    var at = claim.IndexOf('=', StringComparison.Ordinal);
                    if (at <= 0 || at == claim.Length - 1)
                    {
                        throw new ArgumentException($"--claim '{claim}' is not NAME=PATTERN");
                    }

                    if (!claims.TryAdd(claim[..at], claim[(at + 1)..]))
                    {
                        throw new ArgumentException($"--claim {claim[..at]} is given twice; every claim must match, so name each once");
                    }

                    break;
                case "--block" when command == "revoke":
                    block = true;
                    break;
                case "--reason" when command == "revoke":
                    reason = Value();
                    break;
                default:
                    if (command == "unblock" && !arg.StartsWith('-') && blockId is null)
                    {
                        blockId = arg;
                        break;
                    }

                    throw new ArgumentException($"unknown argument '{arg}' for sessions {command}");
            }
        }

        if (command == "revoke" && (leaseId is null) == (claims.Count == 0))
        {
            throw new ArgumentException("sessions revoke needs either --lease ID or one or more --claim NAME=PATTERN");
        }

        if (block && leaseId is not null)
        {
            throw new ArgumentException("--block needs --claim: it refuses new sessions of a job, and a lease id names no job");
        }

        if (command == "unblock" && blockId is null)
        {
            throw new ArgumentException("sessions unblock needs the block's id (sessions list shows it)");
        }

        return new SessionsArguments
        {
            Command = command,
            ConfigFiles = files,
            AdminUrl = url,
            AdminTokenFile = tokenFile,
            Json = json,
            LeaseId = leaseId,
            Claims = claims,
            Block = block,
            Reason = reason,
            BlockId = blockId,
        };
    }
}
