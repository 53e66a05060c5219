namespace GitHubActionsPort.Broker.Configuration;

/// <summary>
/// Finds the keys under <c>Broker</c> that no reader asks for: a misspelt key (<c>Rule</c> for <c>Rules</c>,
/// <c>Transport:ConectTimeout</c>) would otherwise be ignored in silence, and the setting it meant would quietly
/// keep its default, or a policy would quietly lose its rules. The known keys are not listed anywhere: they are
/// the keys the readers look up (<see cref="AskedKeysSource"/>), so a key is declared by reading it. The check
/// runs on the merged configuration, so a key from the file, the environment (<c>Broker__X</c>) or the command
/// line (<c>--Broker:X=</c>) is held to the same rule; sections other than <c>Broker</c> are not the broker's.
/// </summary>
internal static class UnknownKeys
{
    /// <summary>Most known keys an error lists when it has no near one to suggest.</summary>
    private const int MaxListed = 24;

    /// <summary>Starts recording the keys asked for; call after the last source holding settings is added.</summary>
    public static void Track(IConfigurationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Add(new AskedKeysSource());
    }

    /// <summary>Every key and value under <c>Broker</c>, listed without counting as asked for.</summary>
    public static List<KeyValuePair<string, string?>> List(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return AskedKeysProvider.Listing(() => configuration.GetSection(BrokerSettingsReader.SectionName).AsEnumerable().ToList());
    }

    /// <summary>
    /// One error for each key under <c>Broker</c> that no reader has asked for (the outermost unknown one of a
    /// subtree, so <c>"Rule": [ ... ]</c> is one error, not one per setting inside it), naming the nearest known
    /// key. Empty when the configuration does not record its keys (<see cref="Track"/> was not called).
    /// </summary>
    public static List<string> Find(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var source = (configuration as IConfigurationRoot)?.Providers.OfType<AskedKeysProvider>().LastOrDefault()?.Source;
        if (source is null)
        {
            return [];
        }

        var asked = new HashSet<string>(source.Asked.Keys, StringComparer.OrdinalIgnoreCase);
        var sections = Prefixes(asked);
        var given = List(configuration).Select(p => p.Key).Where(k => k.Contains(':', StringComparison.Ordinal)).ToList();
        var inner = Prefixes(given);
        bool Known(string key) => asked.Contains(key) || sections.Contains(key);

        var errors = new List<string>();
        var reported = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var leaf in given.Where(k => !inner.Contains(k)).Order(StringComparer.OrdinalIgnoreCase))
        {
            if (Known(leaf))
            {
                // An empty section ({} or []) of a known key is harmless, as is every value a reader asked for.
                continue;
            }

            var outermost = Outermost(leaf, Known);
            if (reported.Add(outermost))
            {
                errors.Add(Describe(outermost, asked));
            }
        }

        return errors;
    }

    /// <summary>The shortest unknown key on the way down from <c>Broker</c> to <paramref name="leaf"/>.</summary>
    private static string Outermost(string leaf, Func<string, bool> known)
    {
        for (var colon = leaf.IndexOf(':', StringComparison.Ordinal); colon > 0; colon = leaf.IndexOf(':', colon + 1))
        {
            var next = leaf.IndexOf(':', colon + 1);
            var key = next < 0 ? leaf : leaf[..next];
            if (!known(key))
            {
                return key;
            }

            if (next < 0)
            {
                break;
            }
        }

        return leaf;
    }

    private static string Describe(string key, HashSet<string> asked)
    {
        var colon = key.LastIndexOf(':');
        var parent = key[..colon];
        var name = key[(colon + 1)..];
        var siblings = asked
            .Where(k => k.Length > parent.Length + 1 && k.StartsWith(parent + ":", StringComparison.OrdinalIgnoreCase))
            .Select(k => k[(parent.Length + 1)..].Split(':')[0])
            .Distinct(StringComparer.OrdinalIgnoreCase)
            .Order(StringComparer.OrdinalIgnoreCase)
            .ToList();

        if (KeySuggestion.Nearest(name, siblings) is { } nearest)
        {
            return $"{key}: not a known key; did you mean {parent}:{nearest}?";
        }

        return siblings.Count switch
        {
            0 => $"{key}: not a known key.",
            > MaxListed => $"{key}: not a known key ({parent} takes {string.Join(", ", siblings.Take(MaxListed))}, ...).",
            _ => $"{key}: not a known key ({parent} takes {string.Join(", ", siblings)}).",
        };
    }

    /// <summary>Every proper prefix (<c>A</c>, <c>A:B</c> of <c>A:B:C</c>) of the keys: the sections they sit in.</summary>
    private static HashSet<string> Prefixes(IEnumerable<string> keys)
    {
        var prefixes = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var key in keys)
        {
            for (var colon = key.IndexOf(':', StringComparison.Ordinal); colon > 0; colon = key.IndexOf(':', colon + 1))
            {
                prefixes.Add(key[..colon]);
            }
        }

        return prefixes;
    }
}
