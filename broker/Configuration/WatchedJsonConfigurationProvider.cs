using Microsoft.Extensions.Configuration.Json;

namespace GitHubActionsPort.Broker.Configuration;

/// <summary>
/// A JSON configuration file that keeps its last good contents when a reload cannot parse it. The stock provider
/// empties itself instead, and a policy re-read from an editor's half-written file would then silently lose every
/// rule the file held (and end every lease). The first load still fails loudly, so start-up reports a bad file.
/// </summary>
internal sealed class WatchedJsonConfigurationProvider(WatchedJsonConfigurationSource source) : JsonConfigurationProvider(source)
{
    private volatile bool _loaded;
    private volatile bool _hadData;

    /// <summary>Why the latest reload could not parse the file; null after a good read.</summary>
    public Exception? LastError { get; private set; }

    /// <summary>
    /// True when the file held settings once but holds none now: the stock reload of a missing file leaves the
    /// provider empty, which is a file being replaced, not a policy meant to be empty.
    /// </summary>
    public bool LostItsData => _hadData && Data.Count == 0;

    public string FilePath => Source.FileProvider?.GetFileInfo(Source.Path ?? string.Empty).PhysicalPath ?? Source.Path ?? string.Empty;

    public override void Load(Stream stream)
    {
        try
        {
            base.Load(stream);
        }
        catch (Exception ex) when (_loaded)
        {
            // The parser assigns Data only on success, so the previous contents stay in force.
            LastError = ex;
            return;
        }

        LastError = null;
        _loaded = true;
        _hadData |= Data.Count > 0;
    }
}
