using System.CommandLine;
using GitHubActionsPort.Protocol.CommandLine;

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
        var sessions = new SessionsCommandLine();
        var result = sessions.Parse(args, CommandLineErrors.Parsing);
        if (result.Errors.Count > 0)
        {
            throw new ArgumentException(CommandLineErrors.Describe(result));
        }

        return From(sessions, result);
    }

    /// <summary>The checked flags of a parse that chose one of <paramref name="sessions"/>' commands.</summary>
    internal static SessionsArguments From(SessionsCommandLine sessions, ParseResult result)
    {
        var chosen = result.CommandResult.Command;
        if (!sessions.Common.TryGetValue(chosen, out var common))
        {
            throw new ArgumentException("sessions needs list, revoke or unblock");
        }

        var command = chosen.Name;
        Uri? url = null;
        if (result.GetValue(common.AdminUrl) is { } text)
        {
            url = Uri.TryCreate(text, UriKind.Absolute, out var parsed) && parsed.Scheme == Uri.UriSchemeHttp
                ? parsed
                : throw new ArgumentException($"--admin-url '{text}' is not an http:// URL");
        }

        var claims = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var claim in command == "revoke" ? result.GetValue(sessions.Claim) ?? [] : [])
        {
            var at = claim.IndexOf('=', StringComparison.Ordinal);
            if (at <= 0 || at == claim.Length - 1)
            {
                throw new ArgumentException($"--claim '{claim}' is not NAME=PATTERN");
            }

            if (!claims.TryAdd(claim[..at], claim[(at + 1)..]))
            {
                throw new ArgumentException($"--claim {claim[..at]} is given twice; every claim must match, so name each once");
            }
        }

        var files = result.GetValue(common.Config) ?? [];
        var tokenFile = result.GetValue(common.AdminTokenFile);
        var json = command == "list" && result.GetValue(sessions.Json);
        var leaseId = command == "revoke" ? result.GetValue(sessions.Lease) : null;
        var block = command == "revoke" && result.GetValue(sessions.Block);
        var reason = command == "revoke" ? result.GetValue(sessions.Reason) : null;
        var blockId = command == "unblock" ? result.GetValue(sessions.BlockId) : null;
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
