namespace GitHubActionsPort.Broker.Leases;

/// <summary>Registers leases: the broker's signing key, lease tokens and the store of live leases.</summary>
internal static class LeaseServiceCollectionExtensions
{
    public static IServiceCollection AddBrokerLeases(this IServiceCollection services)
    {
        services.AddSingleton<LeaseSigningKey>();
        services.AddSingleton<LeaseTokens>();
        services.AddSingleton<LeaseStore>();
        // Hears every instance's ends and renewals of the leases it holds.
        services.AddSingleton<Store.IStoreChangeListener>(sp => sp.GetRequiredService<LeaseStore>());
        return services;
    }
}
