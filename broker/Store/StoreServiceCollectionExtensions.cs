namespace GitHubActionsPort.Broker.Store;

/// <summary>Registers the broker's state store and this process's place among the instances that share it.</summary>
internal static class StoreServiceCollectionExtensions
{
    public static IServiceCollection AddBrokerStore(this IServiceCollection services, StoreSettings settings)
    {
        services.AddSingleton(settings);
        services.AddSingleton<BrokerInstance>();
        services.AddSingleton(sp => BrokerStores.Create(settings, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILoggerFactory>()));
        return services;
    }
}
