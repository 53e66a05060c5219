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
            StoreKind.Sqlite => new SqliteBrokerStore(
                settings.Path ?? throw new ArgumentException("the sqlite store needs its path (StoreSettingsReader resolves it)", nameof(settings)), time),
            StoreKind.Postgres => new PostgresBrokerStore(
                settings.ConnectionString ?? throw new ArgumentException("the postgres store needs its connection string", nameof(settings)),
                settings.Schema,
                time,
                loggers.CreateLogger<PostgresBrokerStore>()),
            _ => throw new ArgumentOutOfRangeException(nameof(settings), settings.Kind, "not a store kind"),
        };
    }
}
