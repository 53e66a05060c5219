using GitHubActionsPort.Broker.Configuration;

namespace GitHubActionsPort.Broker.Store;

/// <summary>Reads and checks <c>Broker:Store</c>; every error names its key.</summary>
internal static class StoreSettingsReader
{
    public static StoreSettings Read(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var section = configuration.GetSection("Broker:Store");
        var errors = new List<string>();
        var settings = new StoreSettings();
        if (section["Kind"] is { Length: > 0 } kind)
        {
            if (Enum.TryParse<StoreKind>(kind, ignoreCase: true, out var parsed) && Enum.IsDefined(parsed) && !int.TryParse(kind, out _))
            {
                settings = settings with { Kind = parsed };
            }
            else
            {
                errors.Add($"Broker:Store:Kind: '{kind}' is not a store; use sqlite (the default), postgres or memory.");
            }
        }

        if (section["Path"] is { Length: > 0 } path)
        {
            settings = settings with { Path = System.IO.Path.GetFullPath(path) };
        }

        settings = StoreIntervalsReader.Read(section, settings, errors);

        // The remaining keys (ConnectionString, ConnectionStringFile, Schema) are read with the stores that use them (issue 11).
        if (errors.Count > 0)
        {
            throw new BrokerConfigurationException(errors);
        }

        return settings;
    }
}
