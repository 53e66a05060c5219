namespace GitHubActionsPort.Broker.Leases;

/// <summary>Registers leases: the broker's signing key, lease tokens and the store of live leases.</summary>
internal static class LeaseServiceCollectionExtensions
{
    public static IServiceCollection AddBrokerLeases(this IServiceCollection services)
    {
        services.AddSingleton<LeaseSigningKey>();
        services.AddSingleton<LeaseTokens>();
        services.AddSingleton<LeaseStore>();
        return services;
    }
}
