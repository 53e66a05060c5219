using System.Text.RegularExpressions;

namespace GitHubActionsPort.Protocol;

/// <summary>
/// The shape of a target name, checked by both ends: short, lower-case, and free of the separators an address
/// or a path could hide in, so a name can never be mistaken for a place to connect to.
/// </summary>
public static partial class TargetName
{
    public const string Rule = "lower-case letters, digits, '.', '_' or '-', starting with a letter or digit, at most 63";

    public static bool IsValid(string? name) => name is not null && Pattern().IsMatch(name);

    // \A and \z, not ^ and $: "$" also matches before a final newline, so "echo\n" would pass.
    [GeneratedRegex(@"\A[a-z0-9][a-z0-9._-]{0,62}\z", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}
