using GitHubActionsPort.Broker.Store;

namespace GitHubActionsPort.Broker.Admin;

/// <summary>One broker instance sharing the store, as <c>GET /admin/sessions</c> shows it; <c>State</c> in lower case (live, draining, gone, lost).</summary>
internal sealed record InstanceSummary(string Id, string Address, string State, DateTimeOffset StartedAt, DateTimeOffset HeartbeatAt)
{
    public static InstanceSummary Of(InstanceRecord instance)
    {
        ArgumentNullException.ThrowIfNull(instance);
        return new InstanceSummary(instance.Id, instance.Address, instance.State.ToString().ToLowerInvariant(), instance.StartedAt, instance.HeartbeatAt);
    }
}
