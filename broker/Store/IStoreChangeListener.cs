namespace GitHubActionsPort.Broker.Store;

/// <summary>
/// Something that keeps a copy of store state in memory (live leases, standing blocks) and must hear each change any
/// instance published, in order. Every registered listener is called for every change read from the store.
/// </summary>
internal interface IStoreChangeListener
{
    /// <summary>Brings the copy up to date with <paramref name="change"/>; throws <see cref="StoreUnavailableException"/> when it cannot read.</summary>
    Task OnChangeAsync(StoreChange change, CancellationToken cancellationToken);

    /// <summary>
    /// Reloads everything: at start, and after the store was unreachable (changes may have been pruned meanwhile).
    /// </summary>
    Task ReloadAsync(CancellationToken cancellationToken);
}
