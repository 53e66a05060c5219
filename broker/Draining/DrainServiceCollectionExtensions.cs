using GitHubActionsPort.Broker.Configuration;

namespace GitHubActionsPort.Broker.Draining;

/// <summary>Registers the drain, the service that runs it at a stop, and a host shutdown timeout that leaves it room.</summary>
internal static class DrainServiceCollectionExtensions
{
    public static IServiceCollection AddBrokerDrain(this IServiceCollection services, TransportSettings transport)
    {
        ArgumentNullException.ThrowIfNull(transport);
        services.AddSingleton<BrokerDrain>();
        services.AddSingleton<BrokerDrainService>();
        services.AddHostedService(sp => sp.GetRequiredService<BrokerDrainService>());
        // The host cuts its stop short at ShutdownTimeout (30 s by default), the drain's wait included: it must be
        // longer than the drain and what follows it. A longer one set on purpose (shutdownTimeoutSeconds) stands.
        var needed = transport.DrainTimeout + BrokerDrainService.StopMargin;
        services.PostConfigure<HostOptions>(o =>
        {
            if (o.ShutdownTimeout != Timeout.InfiniteTimeSpan && o.ShutdownTimeout < needed)
            {
                o.ShutdownTimeout = needed;
            }
        });
        return services;
    }
}
