namespace GitHubActionsPort.Broker.Leases;

/// <summary>Registers the lease store.</summary>
internal static class LeaseServiceCollectionExtensions
{
    public static IServiceCollection AddBrokerLeases(this IServiceCollection services)
    {
        services.AddSingleton<LeaseStore>();
        return services;
    }
}
