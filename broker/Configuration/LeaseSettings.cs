namespace GitHubActionsPort.Broker.Configuration;

/// <summary>Lease lengths (<c>Broker:Leases</c>).</summary>
public sealed record LeaseSettings
{
    /// <summary>Length of a grant when the agent asks for none. Default: 15 minutes.</summary>
    public TimeSpan DefaultTtl { get; init; } = TimeSpan.FromMinutes(15);

    /// <summary>Cap on every lease, whatever a rule says. Default: 6 hours.</summary>
    public TimeSpan MaxTtl { get; init; } = TimeSpan.FromHours(6);
}
