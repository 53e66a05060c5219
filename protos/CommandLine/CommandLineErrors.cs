using System.CommandLine;
using System.CommandLine.Parsing;

namespace GitHubActionsPort.Protocol.CommandLine;

/// <summary>
/// Turns a command line's parse errors into the one line both programs print: the first problem, named by the
/// flag or word that caused it, with the nearest known flag or command when the word looks like a typo.
/// </summary>
public static class CommandLineErrors
{
    /// <summary>Parser settings both programs share: no <c>@file</c> response files (a value never turns into a file's contents).</summary>
    public static ParserConfiguration Parsing { get; } = new() { ResponseFileTokenReplacer = null };

    /// <summary>The first error of <paramref name="result"/> as one line; empty when there is none.</summary>
    public static string Describe(ParseResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var command = result.CommandResult.Command;
        if (result.UnmatchedTokens.Count > 0)
        {
            var token = result.UnmatchedTokens[0];
            var known = Names(command).ToList();
            var nearest = Nearest(token, known);
            var suggestion = nearest.Count > 0 ? $"; did you mean {string.Join(" or ", nearest)}?" : string.Empty;
            if (token.StartsWith('-'))
            {
                // A real flag of another command ('run --target'): say whose it is.
                var belongsTo = nearest.Count == 0 ? Owner(result.RootCommandResult.Command, token.Split('=', 2)[0], result.RootCommandResult.Command.Name) : null;
                if (belongsTo is not null)
                {
                    return $"unknown option '{token}' for '{Path(result.CommandResult)}'; {token.Split('=', 2)[0]} belongs to '{belongsTo}'";
                }

                return $"unknown option '{token}' for '{Path(result.CommandResult)}'{suggestion}";
            }

            return command.Subcommands.Count > 0 && command.Arguments.Count == 0
                ? $"unknown command '{token}' for '{Path(result.CommandResult)}'{suggestion}"
                : $"unexpected argument '{token}' for '{Path(result.CommandResult)}'";
        }

        if (result.Errors.Count == 0)
        {
            return string.Empty;
        }

        var error = result.Errors[0];

        // "Required argument missing for option" says less than the flag and what it lacks.
        if (error.SymbolResult is OptionResult { Tokens.Count: 0, Implicit: false } option && option.Option.Arity.MinimumNumberOfValues > 0)
        {
            return $"{option.Option.Name} needs a value";
        }

        if (error.SymbolResult is ArgumentResult { Tokens.Count: 0 } argument && argument.Parent is CommandResult owner)
        {
            return $"'{Path(owner)}' needs {argument.Argument.Name}";
        }

        if (error.SymbolResult is CommandResult { Command.Subcommands.Count: > 0 } parent && result.CommandResult == parent)
        {
            return $"'{Path(parent)}' needs a command: {string.Join(", ", parent.Command.Subcommands.Where(c => !c.Hidden).Select(c => c.Name))}";
        }

        return error.Message.TrimEnd('.');
    }

    /// <summary>The command's words from the program on, <c>ghaport-broker sessions revoke</c>.</summary>
    public static string Path(CommandResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var names = new Stack<string>();
        for (SymbolResult? at = result; at is not null; at = at.Parent)
        {
            if (at is CommandResult command)
            {
                names.Push(command.Command.Name);
            }
        }

        return string.Join(' ', names);
    }

    private static string? Owner(Command command, string option, string path)
    {
        if (command.Options.Any(o => !o.Hidden && (o.Name == option || o.Aliases.Contains(option))))
        {
            return path;
        }

        return command.Subcommands.Select(c => Owner(c, option, $"{path} {c.Name}")).FirstOrDefault(o => o is not null);
    }

    private static IEnumerable<string> Names(Command command)
    {
        foreach (var option in command.Options.Where(o => !o.Hidden))
        {
            yield return option.Name;
        }

        foreach (var subcommand in command.Subcommands.Where(c => !c.Hidden))
        {
            yield return subcommand.Name;
        }
    }

    /// <summary>The known names closest to <paramref name="token"/> by edit distance, when close enough to be a typo.</summary>
    private static List<string> Nearest(string token, List<string> known)
    {
        var word = token.Split('=', 2)[0];
        var scored = known
            .Select(name => (Name: name, Distance: Distance(word, name)))
            .Where(s => s.Distance <= Math.Max(1, Math.Min(3, s.Name.Length / 3)) || (word.Length > 3 && s.Name.StartsWith(word, StringComparison.Ordinal)))
            .ToList();
        if (scored.Count == 0)
        {
            return [];
        }

        var best = scored.Min(s => s.Distance);
        return scored.Where(s => s.Distance == best).Select(s => s.Name).Take(3).ToList();
    }

    private static int Distance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }
}
