using Microsoft.Extensions.Configuration.Json;

namespace GitHubActionsPort.Broker.Configuration;

/// <summary>A <c>--config</c> JSON file, reloaded on change by a <see cref="WatchedJsonConfigurationProvider"/>.</summary>
internal sealed class WatchedJsonConfigurationSource : JsonConfigurationSource
{
    public override IConfigurationProvider Build(IConfigurationBuilder builder)
    {
        EnsureDefaults(builder);
        return new WatchedJsonConfigurationProvider(this);
    }
}
