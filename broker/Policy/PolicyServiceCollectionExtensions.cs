using GitHubActionsPort.Broker.Configuration;

namespace GitHubActionsPort.Broker.Policy;

/// <summary>Registers the access policy, the store of the policy in force, and its reload on configuration change.</summary>
internal static class PolicyServiceCollectionExtensions
{
    public static IServiceCollection AddBrokerPolicy(this IServiceCollection services)
    {
        services.AddSingleton(provider => new PolicyStore(provider.GetRequiredService<BrokerSettings>()));
        services.AddSingleton<AccessPolicy>();
        services.AddSingleton<PolicyReloader>();
        services.AddHostedService(provider => provider.GetRequiredService<PolicyReloader>());
        return services;
    }
}
