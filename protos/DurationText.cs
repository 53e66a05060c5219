using System.Globalization;

namespace GitHubActionsPort.Protocol;

/// <summary>
/// The one way a duration is written, on both command lines and in the broker's configuration: a number with a
/// unit (<c>90s</c>, <c>30m</c>, <c>2h</c>, also <c>500ms</c> and <c>1d</c>) or a clock (<c>hh:mm:ss</c>,
/// <c>d.hh:mm:ss</c>, with optional <c>.fffffff</c>). A bare number is refused: <see cref="TimeSpan"/> alone
/// would read <c>30</c> as thirty days, which nobody writing <c>--ttl 30</c> means.
/// </summary>
public static class DurationText
{
    /// <summary>The accepted forms, for messages and help.</summary>
    public const string Forms = "90s, 30m, 2h, hh:mm:ss or d.hh:mm:ss";

    private static readonly string[] ClockFormats = [@"h\:mm\:ss", @"h\:mm\:ss\.FFFFFFF", @"d\.h\:mm\:ss", @"d\.h\:mm\:ss\.FFFFFFF"];

    private static readonly (string Suffix, double Seconds)[] Units = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)];

    /// <summary>
    /// Reads a duration of zero or more; on failure <paramref name="error"/> says what is wrong with the text and
    /// shows the forms (the caller prefixes the flag or key).
    /// </summary>
    public static bool TryParse(string? text, out TimeSpan value, out string error)
    {
        value = TimeSpan.Zero;
        error = string.Empty;
        var trimmed = text?.Trim() ?? string.Empty;
        if (trimmed.Length == 0)
        {
            error = $"an empty value is not a duration ({Forms})";
            return false;
        }

        if (trimmed.StartsWith('-'))
        {
            error = $"'{text}' is negative; a duration is {Forms}";
            return false;
        }

        if (trimmed.Contains(':', StringComparison.Ordinal))
        {
            // Exactly [d.]hh:mm:ss[.fffffff]. TimeSpan.TryParse would also take "1:30" (an hour and a half, or was a
            // minute and a half meant?) and "25:00:00" (twenty-five days).
            if (!TimeSpan.TryParseExact(trimmed, ClockFormats, CultureInfo.InvariantCulture, out value))
            {
                error = $"'{text}' is not a duration ({Forms})";
                return false;
            }

            return true;
        }

        if (double.TryParse(trimmed, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var bare))
        {
            error = $"'{text}' has no unit; write {bare.ToString(CultureInfo.InvariantCulture)}s, {bare.ToString(CultureInfo.InvariantCulture)}m or {bare.ToString(CultureInfo.InvariantCulture)}h ({Forms})";
            return false;
        }

        foreach (var (suffix, seconds) in Units.OrderByDescending(u => u.Suffix.Length))
        {
            if (!trimmed.EndsWith(suffix, StringComparison.Ordinal))
            {
                continue;
            }

            var number = trimmed[..^suffix.Length];
            // Digits and at most one point only: no sign, exponent, spaces or thousands separators.
            if (number.Length > 0 && number.All(c => char.IsAsciiDigit(c) || c == '.')
                && double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var amount)
                && amount * seconds < TimeSpan.MaxValue.TotalSeconds / 2)
            {
                value = TimeSpan.FromTicks((long)Math.Round(amount * seconds * TimeSpan.TicksPerSecond));
                return true;
            }

            break;
        }

        error = $"'{text}' is not a duration ({Forms})";
        return false;
    }

    /// <summary>Writes a duration in the shortest of the accepted forms that is exact (<c>30d</c>, <c>90s</c>, <c>00:00:01.5</c>).</summary>
    public static string Format(TimeSpan value)
    {
        for (var i = Units.Length - 1; i >= 0; i--)
        {
            var (suffix, seconds) = Units[i];
            var ticks = (long)(seconds * TimeSpan.TicksPerSecond);
            if (value.Ticks != 0 && value.Ticks % ticks == 0)
            {
                return (value.Ticks / ticks).ToString(CultureInfo.InvariantCulture) + suffix;
            }
        }

        return value.ToString("c", CultureInfo.InvariantCulture);
    }
}
