using GitHubActionsPort.Protocol.V1;

namespace GitHubActionsPort.Agent.Forwarding;

/// <summary>
/// One tunnel's place on one of a <see cref="BrokerChannel"/>'s connections (see <see cref="BrokerChannel.ForTunnel"/>):
/// the client to make its call with, and, once disposed, the place given back.
/// </summary>
internal sealed class TunnelConnection : IDisposable
{
    private BrokerChannel? _owner;

    internal TunnelConnection(BrokerChannel owner, int index, Broker.BrokerClient client)
    {
        _owner = owner;
        Index = index;
        Client = client;
    }

    /// <summary>Which of the channel's connections, from 0.</summary>
    public int Index { get; }

    /// <summary>The client whose calls go over that connection.</summary>
    public Broker.BrokerClient Client { get; }

    /// <summary>Gives the place back, once however often it is called.</summary>
    public void Dispose() => Interlocked.Exchange(ref _owner, null)?.Release(Index);
}
