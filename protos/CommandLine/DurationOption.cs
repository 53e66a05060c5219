using System.CommandLine;

namespace GitHubActionsPort.Protocol.CommandLine;

/// <summary>A flag whose value is a duration in the forms of <see cref="DurationText"/>, positive and bounded.</summary>
public static class DurationOption
{
    /// <summary>A <c>--name DURATION</c> flag; a bad value is a parse error naming the flag and showing the forms.</summary>
    public static Option<TimeSpan?> Create(string name, string description, TimeSpan? max = null)
    {
        var option = new Option<TimeSpan?>(name)
        {
            Description = description,
            HelpName = "DURATION",
            CustomParser = result =>
            {
                var text = result.Tokens.Count > 0 ? result.Tokens[^1].Value : string.Empty;
                if (!DurationText.TryParse(text, out var value, out var error))
                {
                    result.AddError($"{name}: {error}");
                    return null;
                }

                if (value <= TimeSpan.Zero || value > max)
                {
                    result.AddError(max is { } limit
                        ? $"{name}: '{text}' is not a positive duration of at most {DurationText.Format(limit)}"
                        : $"{name}: '{text}' is not a positive duration");
                    return null;
                }

                return value;
            },
        };
        return option;
    }
}
