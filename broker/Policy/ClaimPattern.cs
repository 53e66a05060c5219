using System.Text;
using System.Text.RegularExpressions;

namespace GitHubActionsPort.Broker.Policy;

/// <summary>
/// A glob over one claim value: <c>*</c> matches within one segment (never across <c>/</c> or <c>:</c>, so
/// <c>acme/app*</c> cannot match <c>acme/app-evil/x</c>), <c>**</c> matches across segments, <c>?</c> one
/// character of a segment; everything else is literal and case-sensitive.
/// </summary>
public sealed class ClaimPattern
{
    private readonly Regex _regex;

    private ClaimPattern(string text, Regex regex)
    {
        Text = text;
        _regex = regex;
    }

    public string Text { get; }

    /// <summary>Whether the pattern holds <c>*</c> or <c>?</c>; without them it matches exactly its own text.</summary>
    public bool HasWildcard => Text.AsSpan().IndexOfAny('*', '?') >= 0;

    /// <summary>Whether the pattern is exactly <paramref name="value"/>, written out with no wildcard.</summary>
    public bool IsLiterally(string value) => !HasWildcard && string.Equals(Text, value, StringComparison.Ordinal);

    /// <summary>Whether the value matches the whole pattern.</summary>
    public bool IsMatch(string value) => _regex.IsMatch(value);

    public static bool TryParse(string text, out ClaimPattern? pattern, out string? error)
    {
        pattern = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "a claim pattern must not be empty";
            return false;
        }

        if (text.Contains("***", StringComparison.Ordinal))
        {
            error = $"'{text}' has '***'; use '*' within a segment or '**' across segments";
            return false;
        }

        // \A and \z, not ^ and $: "$" would also match before a final newline, so "main" would admit "main\n".
        var regex = new StringBuilder("\\A");
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '*' && i + 1 < text.Length && text[i + 1] == '*')
            {
                regex.Append(".*");
                i++;
            }
            else if (text[i] == '*')
            {
                regex.Append("[^/:]*");
            }
            else if (text[i] == '?')
            {
                regex.Append("[^/:]");
            }
            else
            {
                regex.Append(Regex.Escape(text[i].ToString()));
            }
        }

        regex.Append("\\z");
        // Values come from tokens, so matching must stay linear whatever the pattern.
        pattern = new ClaimPattern(text, new Regex(regex.ToString(), RegexOptions.NonBacktracking | RegexOptions.CultureInvariant));
        error = null;
        return true;
    }

    public override string ToString() => Text;
}
