using GitHubActionsPort.Broker.Store;

namespace GitHubActionsPort.Tests.Store;

/// <summary>The reference store against the contract: what the durable stores are measured by.</summary>
#pragma warning disable CA1001 // The store is disposed by the contract's TearDown, as every store it opened.
public sealed class MemoryBrokerStoreTests : BrokerStoreContract
{
    private MemoryBrokerStore? _store;

#pragma warning restore CA1001

    private protected override IBrokerStore NewStore() => _store!;

    protected override Task PrepareAsync()
    {
        _store = new MemoryBrokerStore(TimeProvider.System);
        return Task.CompletedTask;
    }
}
