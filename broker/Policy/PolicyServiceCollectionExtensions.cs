namespace GitHubActionsPort.Broker.Policy;

/// <summary>Registers the access policy.</summary>
internal static class PolicyServiceCollectionExtensions
{
    public static IServiceCollection AddBrokerPolicy(this IServiceCollection services)
    {
        services.AddSingleton<AccessPolicy>();
        return services;
    }
}
