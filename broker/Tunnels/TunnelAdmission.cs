using GitHubActionsPort.Broker.Configuration;

namespace GitHubActionsPort.Broker.Tunnels;

/// <summary>
/// The broker-wide cap on open tunnels (<c>Broker:Transport:MaxTunnels</c>): however many leases exist, sockets,
/// buffers and target connections stay within what the host was sized for.
/// </summary>
internal sealed class TunnelAdmission(BrokerSettings settings)
{
    private int _open;

    public bool TryEnter()
    {
        if (Interlocked.Increment(ref _open) <= settings.Transport.MaxTunnels)
        {
            return true;
        }

        Interlocked.Decrement(ref _open);
        return false;
    }

    public void Exit() => Interlocked.Decrement(ref _open);
}
