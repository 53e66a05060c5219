namespace GitHubActionsPort.Broker.Telemetry;

/// <summary>Registers the metrics and health endpoint.</summary>
internal static class TelemetryServiceCollectionExtensions
{
    public static IServiceCollection AddBrokerMetrics(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSingleton(MetricsSettings.Read(configuration));
        services.AddSingleton<MetricsEndpoint>();
        services.AddHostedService(provider => provider.GetRequiredService<MetricsEndpoint>());
        return services;
    }
}
