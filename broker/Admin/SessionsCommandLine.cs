using System.CommandLine;

namespace GitHubActionsPort.Broker.Admin;

/// <summary><c>ghaport-broker sessions list|revoke|unblock</c>: the commands, their flags and help.</summary>
internal sealed class SessionsCommandLine : Command
{
    public SessionsCommandLine()
        : base("sessions", "Ask the running broker's admin endpoint (Broker:Admin:Url, default http://127.0.0.1:8471, with the credential in "
            + "Broker:Admin:TokenFile) to list live leases and blocks, revoke leases, or lift a block. Exit 0 done, 2 bad command line or "
            + "configuration, 4 cannot reach the endpoint, 5 credential refused, 6 no such lease or block.")
    {
        List = AddCommand(new Command("list", "List live leases and standing blocks."));
        List.Options.Add(Json);
        Revoke = AddCommand(new Command("revoke", "Revoke one lease (--lease), or every lease whose claims match all the --claim globs; each ends with its tunnels at once."));
        Revoke.Options.Add(Lease);
        Revoke.Options.Add(Claim);
        Revoke.Options.Add(Block);
        Revoke.Options.Add(Reason);
        Unblock = AddCommand(new Command("unblock", "Lift a block, so new sessions matching it are judged by the policy again."));
        Unblock.Arguments.Add(BlockId);
    }

    public Command List { get; }

    public Command Revoke { get; }

    public Command Unblock { get; }

    public Option<bool> Json { get; } = new("--json") { Description = "print the admin endpoint's JSON as it is" };

    public Option<string> Lease { get; } = new("--lease") { Description = "the lease to revoke (sessions list shows its id)", HelpName = "ID" };

    public Option<string[]> Claim { get; } = new("--claim")
    {
        Description = "revoke every lease whose claim NAME matches the glob PATTERN; repeat to narrow (every one must match)",
        HelpName = "NAME=PATTERN",
        AllowMultipleArgumentsPerToken = false,
    };

    public Option<bool> Block { get; } = new("--block") { Description = "with --claim, also refuse new sessions that match until 'sessions unblock'" };

    public Option<string> Reason { get; } = new("--reason") { Description = "why, for the audit trail and the block", HelpName = "TEXT" };

    public Argument<string> BlockId { get; } = new("BLOCK-ID") { Description = "the block to lift (sessions list shows it)" };

    /// <summary>The options each sub-command takes, one instance per command (System.CommandLine owns a symbol once).</summary>
    public Dictionary<Command, (Option<string[]> Config, Option<string> AdminUrl, Option<string> AdminTokenFile)> Common { get; } = [];

    private Command AddCommand(Command command)
    {
        var config = new Option<string[]>("--config") { Description = "the broker's configuration file(s), for Broker:Admin:Url and Broker:Admin:TokenFile", HelpName = "FILE", AllowMultipleArgumentsPerToken = false };
        var url = new Option<string>("--admin-url") { Description = "the admin endpoint, instead of Broker:Admin:Url", HelpName = "URL" };
        var token = new Option<string>("--admin-token-file") { Description = "the admin credential, instead of Broker:Admin:TokenFile", HelpName = "FILE" };
        command.Options.Add(config);
        command.Options.Add(url);
        command.Options.Add(token);
        Common[command] = (config, url, token);
        Subcommands.Add(command);
        return command;
    }
}
