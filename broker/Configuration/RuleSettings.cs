using GitHubActionsPort.Broker.Policy;

namespace GitHubActionsPort.Broker.Configuration;

/// <summary>One access rule (<c>Broker:Rules:N</c>): whose tokens may reach which targets, and for how long.</summary>
public sealed record RuleSettings
{
    /// <summary>Name used in logs and errors. Default: <c>rule N</c>.</summary>
    public required string Name { get; init; }

    /// <summary>
    /// The issuer whose tokens the rule judges (<c>Rules:N:Issuer</c>). Default: the only configured issuer;
    /// required when there are several, since the same claim names mean different things at each.
    /// </summary>
    public required string Issuer { get; init; }

    /// <summary>Target names this rule opens.</summary>
    public required IReadOnlyList<string> Targets { get; init; }

    /// <summary>Claims a token must carry: every claim listed must match one of its patterns.</summary>
    public required IReadOnlyDictionary<string, IReadOnlyList<ClaimPattern>> Claims { get; init; }

    /// <summary>Longest lease this rule grants. Default: <c>Leases:MaxTtl</c>.</summary>
    public TimeSpan? MaxTtl { get; init; }

    /// <summary>Most tunnels open at once under one lease. Default: 16.</summary>
    public int MaxConnections { get; init; } = 16;
}
