namespace GitHubActionsPort.Broker.Store;

/// <summary>Makes the store <c>Broker:Store</c> names.</summary>
internal static class BrokerStores
{
    /// <summary>The store for <paramref name="settings"/>; not yet opened (<see cref="IBrokerStore.OpenAsync"/>).</summary>
    public static IBrokerStore Create(StoreSettings settings, TimeProvider time, ILoggerFactory loggers)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(loggers);
        return settings.Kind switch
        {
            StoreKind.Memory => new MemoryBrokerStore(time),
            // The sqlite and postgres stores are being built beside this (issue 11); until they land only memory opens.
            _ => throw new NotSupportedException($"Broker:Store:Kind {settings.Kind} is not built yet"),
        };
    }
}
