using System.Globalization;
using System.Text.Json;

namespace GitHubActionsPort.Broker.Configuration;

/// <summary>
/// Why a JSON configuration file could not be read, with the line and column of the fault. The JSON provider wraps
/// the parser's exception twice ("Failed to load configuration from file", "Could not parse the JSON file"),
/// neither naming where the file goes wrong.
/// </summary>
internal static class JsonFileError
{
    /// <summary>For example <c>line 3, column 17: ',' is an invalid start of a property name. Expected a '"'.</c></summary>
    public static string Describe(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is JsonException { LineNumber: { } line } json)
            {
                // The parser counts lines and bytes from 0, editors from 1; the column is a byte count, as the
                // parser gives it, which is the character count for the ASCII that configuration keys are.
                var column = (json.BytePositionInLine ?? 0) + 1;
                return string.Create(CultureInfo.InvariantCulture, $"line {line + 1}, column {column}: {Reason(json.Message)}");
            }
        }

        return exception.GetBaseException().Message;
    }

    /// <summary>The parser's message without its trailer ("Path: $ | LineNumber: 2 | BytePositionInLine: 16."), said better above.</summary>
    private static string Reason(string message)
    {
        var trailer = message.IndexOf(" Path: ", StringComparison.Ordinal);
        if (trailer < 0)
        {
            trailer = message.IndexOf(" LineNumber: ", StringComparison.Ordinal);
        }

        return (trailer < 0 ? message : message[..trailer]).Trim();
    }
}
