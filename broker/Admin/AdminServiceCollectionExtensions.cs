using GitHubActionsPort.Broker.Store;

namespace GitHubActionsPort.Broker.Admin;

/// <summary>Registers the standing blocks, and, when enabled, the admin endpoint.</summary>
internal static class AdminServiceCollectionExtensions
{
    /// <summary>
    /// <paramref name="settings"/> are read and the credential loaded (or made) before anything starts, so a bad
    /// <c>Broker:Admin</c> key stops start-up with its name.
    /// </summary>
    public static IServiceCollection AddBrokerAdmin(this IServiceCollection services, AdminSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        services.AddSingleton<SessionBlocks>();
        // Its copy of the blocks hears every instance's changes through the store's change reader.
        services.AddSingleton<IStoreChangeListener>(sp => sp.GetRequiredService<SessionBlocks>());
        if (!settings.Enabled)
        {
            return services;
        }

        services.AddSingleton(settings);
        services.AddSingleton(AdminCredential.LoadOrCreate(settings));
        services.AddSingleton<AdminApi>();
        services.AddSingleton<AdminEndpoint>();
        services.AddHostedService(sp => sp.GetRequiredService<AdminEndpoint>());
        return services;
    }
}
