using GitHubActionsPort.Broker.Configuration;

namespace GitHubActionsPort.Broker.Store;

/// <summary>
/// Reads how an instance watches the store (<c>Broker:Store:MaxStaleness</c>, <c>HeartbeatInterval</c>,
/// <c>InstanceTimeout</c>, <c>PollInterval</c>); each error names its key.
/// </summary>
internal static class StoreIntervalsReader
{
    public static StoreSettings Read(IConfigurationSection section, StoreSettings settings, List<string> errors)
    {
        ArgumentNullException.ThrowIfNull(section);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(errors);
        var read = settings with
        {
            MaxStaleness = BrokerSettingsReader.ReadDuration(section, "MaxStaleness", settings.MaxStaleness, errors) ?? settings.MaxStaleness,
            HeartbeatInterval = BrokerSettingsReader.ReadDuration(section, "HeartbeatInterval", settings.HeartbeatInterval, errors) ?? settings.HeartbeatInterval,
            InstanceTimeout = BrokerSettingsReader.ReadDuration(section, "InstanceTimeout", settings.InstanceTimeout, errors) ?? settings.InstanceTimeout,
            PollInterval = BrokerSettingsReader.ReadDuration(section, "PollInterval", settings.PollInterval, errors) ?? settings.PollInterval,
        };

        // An instance that beats less often than others wait for it would be found lost while alive.
        if (read.InstanceTimeout <= read.HeartbeatInterval * 2)
        {
            errors.Add($"Broker:Store:InstanceTimeout: {read.InstanceTimeout.TotalSeconds:0.###} s must be more than twice Broker:Store:HeartbeatInterval ({read.HeartbeatInterval.TotalSeconds:0.###} s), or live instances are found lost.");
        }

        return read;
    }
}
