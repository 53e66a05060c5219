namespace GitHubActionsPort.Broker.Configuration;

/// <summary>
/// The broker's configuration as a command beside it (<c>sessions</c>, <c>health</c>) reads it to find the broker:
/// the same sources in the broker's order (files, then the environment, then switches), without building a host.
/// </summary>
internal static class CommandConfiguration
{
    public static IConfiguration Read(IReadOnlyList<string> configFiles, IReadOnlyList<string> switches)
    {
        ArgumentNullException.ThrowIfNull(configFiles);
        ArgumentNullException.ThrowIfNull(switches);
        var builder = new ConfigurationBuilder();
        foreach (var file in configFiles)
        {
            builder.AddJsonFile(Path.GetFullPath(file), optional: false);
        }

        builder.AddEnvironmentVariables();
        builder.AddCommandLine([.. switches]);
        return builder.Build();
    }
}
