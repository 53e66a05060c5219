using GitHubActionsPort.Broker.Policy;

namespace GitHubActionsPort.Broker.Configuration;

/// <summary>One access rule (<c>Broker:Rules:N</c>): whose tokens may reach which targets, and for how long.</summary>
public sealed record RuleSettings
{
    /// <summary>Name used in logs and errors. Default: <c>rule N</c>.</summary>
    public required string Name { get; init; }

    /// <summary>The rule's configuration key (<c>Broker:Rules:N</c>), for messages that point at it.</summary>
    public string Key { get; init; } = string.Empty;

    /// <summary>
    /// The issuers whose tokens the rule judges (<c>Rules:N:Issuer</c>, one URL or a list). Default: every
    /// configured issuer, which is worth a warning when there are several, since the same claim names mean
    /// different owners at each.
    /// </summary>
    public required IReadOnlyList<string> Issuers { get; init; }

    /// <summary>True when the rule names no issuer and so took every configured one.</summary>
    public bool IssuerDefaulted { get; init; }

    /// <summary>Target names this rule opens.</summary>
    public required IReadOnlyList<string> Targets { get; init; }

    /// <summary>Claims a token must carry: every claim listed must match one of its patterns.</summary>
    public required IReadOnlyDictionary<string, IReadOnlyList<ClaimPattern>> Claims { get; init; }

    /// <summary>
    /// Claims that exclude a token (<c>Rules:N:NotClaims:CLAIM</c>): the rule does not match if any listed claim
    /// matches one of its patterns. A missing claim excludes nothing. Default: none.
    /// </summary>
    public IReadOnlyDictionary<string, IReadOnlyList<ClaimPattern>> NotClaims { get; init; } = new Dictionary<string, IReadOnlyList<ClaimPattern>>();

    /// <summary>Longest lease this rule grants. Default: <c>Leases:MaxTtl</c>.</summary>
    public TimeSpan? MaxTtl { get; init; }

    /// <summary>Most tunnels open at once under one lease. Default: 16.</summary>
    public int MaxConnections { get; init; } = 16;
}
