using GitHubActionsPort.Broker.Configuration;

namespace GitHubActionsPort.Broker.Policy;

/// <summary>
/// The policy in force: one immutable <see cref="BrokerSettings"/> snapshot, replaced whole when the configuration
/// file changes. A reader takes the snapshot once per decision, so it never sees the rules of one version with
/// the targets of another.
/// </summary>
internal sealed class PolicyStore(BrokerSettings initial)
{
    private BrokerSettings _current = initial ?? throw new ArgumentNullException(nameof(initial));

    public BrokerSettings Current => Volatile.Read(ref _current);

    /// <summary>Puts <paramref name="next"/> in force and returns the snapshot it replaced.</summary>
    public BrokerSettings Replace(BrokerSettings next)
    {
        ArgumentNullException.ThrowIfNull(next);
        return Interlocked.Exchange(ref _current, next);
    }
}
