using System.Collections.Concurrent;

namespace GitHubActionsPort.Broker.Configuration;

/// <summary>
/// The last configuration source, holding no settings: every key any reader looks up passes through its provider
/// first (the merged configuration asks its providers from the last added down), so the keys asked for are the
/// keys the broker knows, declared where they are read. <see cref="UnknownKeys"/> compares them with the keys given.
/// </summary>
internal sealed class AskedKeysSource : IConfigurationSource
{
    /// <summary>Every key looked up since start-up; kept here, not in the provider, since a change of sources rebuilds providers.</summary>
    public ConcurrentDictionary<string, byte> Asked { get; } = new(StringComparer.OrdinalIgnoreCase);

    public IConfigurationProvider Build(IConfigurationBuilder builder) => new AskedKeysProvider(this);
}
