namespace GitHubActionsPort.Broker.Configuration;

/// <summary>
/// The validated <c>Broker</c> configuration section: an immutable snapshot, read at start-up and again each time
/// the configuration file changes (only its targets, rules and lease lengths replace the running ones).
/// </summary>
public sealed record BrokerSettings
{
    public required IReadOnlyList<IssuerSettings> Issuers { get; init; }

    public required IReadOnlyDictionary<string, TargetAddress> Targets { get; init; }

    public required IReadOnlyList<RuleSettings> Rules { get; init; }

    public LeaseSettings Leases { get; init; } = new();

    public TransportSettings Transport { get; init; } = new();
}
