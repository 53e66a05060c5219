using System.CommandLine;
using GitHubActionsPort.Agent.Background;
using GitHubActionsPort.Protocol.CommandLine;

namespace GitHubActionsPort.Agent.Cli;

/// <summary>
/// The commands and flags of <c>ghaport</c>, with help per command, <c>--version</c>, suggestions for a mistyped
/// flag, and shell completion through the <c>[suggest]</c> directive (dotnet-suggest).
/// </summary>
internal sealed class AgentCommandLine
{
    public const string ExitCodesHelp = """
        Exit codes: 0 stopped, 1 unexpected failure, 2 bad arguments, 3 no id-token, 4 broker unreachable,
                    5 id-token rejected, 6 target denied, 7 cannot listen, 8 lease ended, 9 not ready.
        """;

    public AgentCommandLine()
    {
        Root = new RootCommand($"""
            ghaport: opens a time-boxed, identity-checked tunnel from this machine's loopback to a private TCP service,
            through a ghaport broker. Run 'ghaport COMMAND --help' for a command's flags.

            {ExitCodesHelp}
            """);
        ProgramVersion.Use(Root, "ghaport", typeof(AgentCommandLine).Assembly);
        Root.Subcommands.Add(Up);
        Down.Options.Add(DownStateDir);
        Root.Subcommands.Add(Down);
        Status.Options.Add(StatusJson);
        Status.Options.Add(StatusStateDir);
        Root.Subcommands.Add(Status);
    }

    public RootCommand Root { get; }

    public UpCommand Up { get; } = new();

    public Command Down { get; } = new("down", "End the background agent's session (its lease and tunnels end at the broker) and wait for it to exit; succeeds when none runs.");

    public Option<string> DownStateDir { get; } = StateDirArgument.Create();

    public Command Status { get; } = new("status", "Show the background agent's lease, its expiry and, per forward, connections and bytes each way.");

    public Option<bool> StatusJson { get; } = new("--json") { Description = "print the status as JSON, for scripts" };

    public Option<string> StatusStateDir { get; } = StateDirArgument.Create();

    public ParseResult Parse(IReadOnlyList<string> args) => Root.Parse(args, CommandLineErrors.Parsing);
}
