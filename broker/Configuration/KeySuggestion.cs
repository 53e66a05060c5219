namespace GitHubActionsPort.Broker.Configuration;

/// <summary>The known key a misspelt one most likely meant, by edit distance.</summary>
internal static class KeySuggestion
{
    /// <summary>
    /// The candidate nearest <paramref name="key"/>, case ignored, if it is near enough to be the key meant: one edit
    /// for a short name, up to three for a long one; null when none is.
    /// </summary>
    public static string? Nearest(string key, IEnumerable<string> candidates)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(candidates);
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var candidate in candidates)
        {
            var distance = Distance(key, candidate);
            if (distance < bestDistance && distance <= Math.Clamp(candidate.Length / 3, 1, 3))
            {
                (best, bestDistance) = (candidate, distance);
            }
        }

        return best;
    }

    /// <summary>
    /// Damerau-Levenshtein distance (optimal string alignment: insertions, deletions, substitutions and swaps of
    /// two neighbours, each counting one), case ignored.
    /// </summary>
    public static int Distance(string a, string b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        a = a.ToUpperInvariant();
        b = b.ToUpperInvariant();
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }

        for (var j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            }
        }

        return d[a.Length, b.Length];
    }
}
