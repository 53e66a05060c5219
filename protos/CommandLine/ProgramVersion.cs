using System.CommandLine;
using System.CommandLine.Invocation;
using System.Reflection;

namespace GitHubActionsPort.Protocol.CommandLine;

/// <summary>
/// <c>--version</c>: the program's name and its assembly's informational version, read from the assembly that holds
/// the program rather than the process's entry assembly (a test host runs the command in process).
/// </summary>
public sealed class ProgramVersion(string program, Assembly assembly) : SynchronousCommandLineAction
{
    public string Text { get; } = $"{program} {assembly?.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown"}";

    /// <summary>Makes the root command's <c>--version</c> print <see cref="Text"/>.</summary>
    public static void Use(RootCommand root, string program, Assembly assembly)
    {
        ArgumentNullException.ThrowIfNull(root);
        var version = root.Options.OfType<VersionOption>().Single();
        version.Action = new ProgramVersion(program, assembly);
    }

    public override int Invoke(ParseResult parseResult)
    {
        ArgumentNullException.ThrowIfNull(parseResult);
        parseResult.InvocationConfiguration.Output.WriteLine(Text);
        return 0;
    }
}
