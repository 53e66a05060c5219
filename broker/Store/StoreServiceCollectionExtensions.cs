using Microsoft.Extensions.DependencyInjection.Extensions;

namespace GitHubActionsPort.Broker.Store;

/// <summary>Registers the broker's state store and this process's place among the instances that share it.</summary>
internal static class StoreServiceCollectionExtensions
{
    public static IServiceCollection AddBrokerStore(this IServiceCollection services, StoreSettings settings)
    {
        services.AddSingleton(settings);
        services.AddSingleton<BrokerInstance>();
        services.AddSingleton<StoreHealth>();
        services.AddSingleton(sp => BrokerStores.Create(settings, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILoggerFactory>()));
        // Registered before the listeners' hosted services: the store is open and current before any call is taken.
        services.AddSingleton<StoreSync>();
        services.AddHostedService(sp => sp.GetRequiredService<StoreSync>());
        return services;
    }

    /// <summary>
    /// Wraps whichever store is registered last (the configured one, or one a test shares between brokers) so every
    /// call's outcome reaches <see cref="StoreHealth"/>. Called once every registration is in.
    /// </summary>
    public static IServiceCollection TrackBrokerStore(this IServiceCollection services)
    {
        var configured = services.Last(d => d.ServiceType == typeof(IBrokerStore));
        services.RemoveAll<IBrokerStore>();
        services.AddSingleton<IBrokerStore>(sp => new TrackedBrokerStore(
            Resolve(sp, configured), ownsInner: configured.ImplementationInstance is null, sp.GetRequiredService<StoreHealth>()));
        return services;
    }

    private static IBrokerStore Resolve(IServiceProvider services, ServiceDescriptor configured) =>
        configured.ImplementationInstance as IBrokerStore
        ?? configured.ImplementationFactory?.Invoke(services) as IBrokerStore
        ?? (IBrokerStore)ActivatorUtilities.CreateInstance(services, configured.ImplementationType!);
}
