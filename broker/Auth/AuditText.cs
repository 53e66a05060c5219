using System.Globalization;
using System.Text;

namespace GitHubActionsPort.Broker.Auth;

/// <summary>
/// Text an attacker chose (a claim of a token that failed validation), made safe to put in one log line or one
/// status: bounded in length, with nothing that could start a forged line or reorder what a reader sees.
/// </summary>
internal static class AuditText
{
    /// <summary>A GitHub <c>sub</c> is well under this; a <c>jti</c> is a GUID.</summary>
    public const int MaxLength = 100;

    /// <summary>
    /// Drops control characters (CR, LF, ESC: forged lines, terminal escapes), format characters (bidi overrides,
    /// zero-width joiners: text that reads differently than it is) and line/paragraph separators, keeps at most
    /// <paramref name="maxLength"/> characters (an ellipsis marks a cut), and quotes the result with <c>"</c> and
    /// <c>\</c> escaped, so a value cannot pose as the next field.
    /// </summary>
    public static string Quote(string value, int maxLength = MaxLength) => Clean(value, maxLength, quoted: true);

    /// <summary>As <see cref="Quote"/>, without the quotes: for a value shown inside a sentence.</summary>
    public static string Clean(string value, int maxLength = MaxLength) => Clean(value, maxLength, quoted: false);

    private static string Clean(string value, int maxLength, bool quoted)
    {
        ArgumentNullException.ThrowIfNull(value);
        var text = new StringBuilder(Math.Min(value.Length, maxLength) + 8);
        if (quoted)
        {
            text.Append('"');
        }

        var kept = 0;
        // Runes, so a cut never splits a surrogate pair; a lone surrogate reads as U+FFFD.
        foreach (var rune in value.EnumerateRunes())
        {
            if (Rune.GetUnicodeCategory(rune) is UnicodeCategory.Control or UnicodeCategory.Format
                or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator)
            {
                continue;
            }

            if (kept + rune.Utf16SequenceLength > maxLength)
            {
                text.Append('…');
                break;
            }

            if (quoted && rune.Value is '"' or '\\')
            {
                text.Append('\\');
            }

            text.Append(rune.ToString());
            kept += rune.Utf16SequenceLength;
        }

        return quoted ? text.Append('"').ToString() : text.ToString();
    }
}
