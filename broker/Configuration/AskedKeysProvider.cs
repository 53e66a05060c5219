namespace GitHubActionsPort.Broker.Configuration;

/// <summary>Records each key looked up and answers none, so the lookup goes on to the sources that hold settings.</summary>
internal sealed class AskedKeysProvider(AskedKeysSource source) : ConfigurationProvider
{
    public AskedKeysSource Source => source;

    /// <summary>
    /// Set while the configuration is listed whole (the check for unknown keys, the reload's fingerprint): a
    /// listing reads every value, and would otherwise make every key given look asked for.
    /// </summary>
    [ThreadStatic]
    private static bool t_listing;

    public override bool TryGet(string key, out string? value)
    {
        if (!t_listing)
        {
            source.Asked.TryAdd(key, 0);
        }

        value = null;
        return false;
    }

    public override void Set(string key, string? value)
    {
        // Holds nothing: a value set on the configuration lives in the sources below.
    }

    public override IEnumerable<string> GetChildKeys(IEnumerable<string> earlierKeys, string? parentPath)
    {
        // A section read by listing its entries (Rules, Targets) is known even while it has none, so a misspelling
        // of it can still be matched to it.
        if (!t_listing && parentPath is not null)
        {
            source.Asked.TryAdd(parentPath, 0);
        }

        return earlierKeys;
    }

    /// <summary>Runs <paramref name="list"/> without recording the keys it reads.</summary>
    public static T Listing<T>(Func<T> list)
    {
        ArgumentNullException.ThrowIfNull(list);
        var outer = t_listing;
        t_listing = true;
        try
        {
            return list();
        }
        finally
        {
            t_listing = outer;
        }
    }
}
