using System.CommandLine;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using GitHubActionsPort.Broker.Admin;
using GitHubActionsPort.Broker.Configuration;
using GitHubActionsPort.Protocol.CommandLine;

namespace GitHubActionsPort.Broker.Hosting;

/// <summary>
/// The <c>ghaport-broker</c> command line. Exit codes: 0 stopped cleanly (or, for <c>policy explain</c>, the token
/// would be granted), 1 unexpected failure, 2 bad command line or configuration, 3 could not listen; for
/// <c>policy explain</c> also 5 the token fails verification and 6 the policy would deny it; for <c>health</c> 0 healthy, 1 not.
/// </summary>
public static class BrokerCommand
{
    public const int ExitOk = 0;
    public const int ExitFailure = 1;
    public const int ExitConfiguration = 2;
    public const int ExitCannotListen = 3;
    public const int ExitTokenInvalid = 5;
    public const int ExitDenied = 6;

    /// <summary>The generic host's own log category (start-up and shutdown records).</summary>
    private const string HostCategory = "Microsoft.Extensions.Hosting.Internal.Host";

    public static async Task<int> RunAsync(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var cli = new BrokerCommandLine();
        var invocation = new InvocationConfiguration
        {
            Output = Console.Out,
            Error = Console.Error,
            // Failures are ours to turn into exit codes, and the host handles the process's signals.
            EnableDefaultExceptionHandler = false,
            ProcessTerminationTimeout = null,
        };

        // 'help' and 'version' read as the flags, as they always have.
        args = args switch
        {
            ["help", .. var rest] => [.. rest, "--help"],
            ["version"] => ["--version"],
            _ => args,
        };

        List<string> switches = [];
        cli.Serve((parsed, _) => RunParsedAsync(cli, parsed, switches));
        foreach (var sessions in cli.Sessions.Subcommands)
        {
            sessions.SetAction((parsed, _) => SessionsAsync(cli, parsed));
        }

        cli.AuditVerify.SetAction((parsed, _) => AuditVerifyCommand.RunAsync(parsed.GetRequiredValue(cli.AuditFile), Console.Out, Console.Error));
        cli.StoreMigrate.SetAction((parsed, _) => StoreMigrateCommand.RunAsync(parsed.GetValue(cli.StoreMigrateConfig) ?? [], switches, Console.Out, Console.Error));
        cli.Health.SetAction((parsed, _) => HealthCommand.RunAsync(parsed.GetValue(cli.HealthUrl), parsed.GetValue(cli.HealthConfig) ?? [], switches, Console.Out, Console.Error));
        ParseResult result;
        try
        {
            (var own, switches) = args is ["sessions" or "audit", ..] ? ([.. args], []) : BrokerArguments.SplitSwitches(args, cli.OptionNames());
            result = cli.Parse(own);
        }
        catch (ArgumentException ex)
        {
            return await UsageErrorAsync(ex.Message, "ghaport-broker").ConfigureAwait(false);
        }

        if (result.Errors.Count > 0)
        {
            return await UsageErrorAsync(CommandLineErrors.Describe(result), CommandLineErrors.Path(result.CommandResult)).ConfigureAwait(false);
        }

        if (cli.MisplacedRootFlags(result) is { } misplaced)
        {
            return await UsageErrorAsync(misplaced, CommandLineErrors.Path(result.CommandResult)).ConfigureAwait(false);
        }

        return await result.InvokeAsync(invocation).ConfigureAwait(false);
    }

    private static async Task<int> UsageErrorAsync(string message, string command)
    {
        await Console.Error.WriteLineAsync($"ghaport-broker: {message}{Environment.NewLine}Run '{command} --help' for usage.").ConfigureAwait(false);
        return ExitConfiguration;
    }

    private static async Task<int> SessionsAsync(BrokerCommandLine cli, ParseResult result)
    {
        SessionsArguments parsed;
        try
        {
            parsed = SessionsArguments.From(cli.Sessions, result);
        }
        catch (ArgumentException ex)
        {
            return await UsageErrorAsync(ex.Message, CommandLineErrors.Path(result.CommandResult)).ConfigureAwait(false);
        }

        return await SessionsCommand.RunAsync(parsed, Console.Out, Console.Error).ConfigureAwait(false);
    }

    private static async Task<int> RunParsedAsync(BrokerCommandLine cli, ParseResult result, IReadOnlyList<string> switches)
    {
        BrokerArguments parsed;
        try
        {
            parsed = BrokerArguments.From(cli, result, switches);
        }
        catch (ArgumentException ex)
        {
            return await UsageErrorAsync(ex.Message, CommandLineErrors.Path(result.CommandResult)).ConfigureAwait(false);
        }

        try
        {
            return parsed.Mode == BrokerMode.PolicyExplain
                ? await PolicyExplainCommand.RunAsync(parsed, Console.Out, Console.Error).ConfigureAwait(false)
                : await ServeAsync(parsed).ConfigureAwait(false);
        }
        catch (BrokerConfigurationException ex)
        {
            await Console.Error.WriteLineAsync($"ghaport-broker: {ex.Message}").ConfigureAwait(false);
            return ExitConfiguration;
        }
        catch (FileNotFoundException ex)
        {
            await Console.Error.WriteLineAsync($"ghaport-broker: configuration file not found: {ex.FileName ?? ex.Message}").ConfigureAwait(false);
            return ExitConfiguration;
        }
        catch (InvalidDataException ex)
        {
            await Console.Error.WriteLineAsync($"ghaport-broker: configuration file is not valid JSON: {ex.Message} {JsonFileError.Describe(ex)}").ConfigureAwait(false);
            return ExitConfiguration;
        }
        catch (Store.StoreUnavailableException ex)
        {
            // Start-up opens the store: one that cannot be reached stops the broker with its cause (and a restart may find it).
            await Console.Error.WriteLineAsync($"ghaport-broker: cannot open the state store: {Store.StoreRefusal.Cause(ex)}").ConfigureAwait(false);
            return ExitFailure;
        }
        catch (ListenException ex)
        {
            // The raw lane, admin or metrics listener: its message names the address and the key that moves it.
            await Console.Error.WriteLineAsync($"ghaport-broker: {ex.Message}").ConfigureAwait(false);
            return ExitCannotListen;
        }
        catch (IOException ex) when (ex.InnerException is SocketException || ex.Message.Contains("address", StringComparison.OrdinalIgnoreCase))
        {
            // Kestrel's own: the job-facing URLs ("Failed to bind to address http://127.0.0.1:8470: address already in use.").
            await Console.Error.WriteLineAsync($"ghaport-broker: cannot listen: {ex.Message.TrimEnd('.')} (--urls or Kestrel:Endpoints)").ConfigureAwait(false);
            return ExitCannotListen;
        }
    }

    private static async Task<int> ServeAsync(BrokerArguments parsed)
    {
        DevIssuer.DevIssuer? devIssuer = null;
        try
        {
            var overrides = new Dictionary<string, string?>();
            if (parsed.Dev)
            {
                devIssuer = await DevIssuer.DevIssuer.StartAsync().ConfigureAwait(false);
                overrides = DevConfiguration.Overrides(devIssuer.Issuer, parsed.DevTargets);
            }

            // While it starts, the host's "Hosting failed to start" record (an error with the whole stack) is left out:
            // the failure comes back from StartAsync, and RunAsync says it in one line with its exit code. The rule
            // replaces the category's level, so it keeps the default's (Information) itself.
            var starting = new StrongBox<bool>(true);
            var app = BrokerHost.Build(parsed.HostArgs, parsed.ConfigFiles, overrides, logging =>
                logging.AddFilter(HostCategory, level => level >= LogLevel.Information && (level != LogLevel.Error || !Volatile.Read(ref starting.Value))),
                defaults: parsed.Defaults);

            await using (app.ConfigureAwait(false))
            {
                await app.StartAsync().ConfigureAwait(false);
                Volatile.Write(ref starting.Value, false);
                foreach (var address in app.Addresses())
                {
                    Console.Out.WriteLine($"listening {address}");
                    if (address.Scheme == Uri.UriSchemeHttp && !BrokerSettingsReader.IsLoopback(address))
                    {
                        await Console.Error.WriteLineAsync($"ghaport-broker: warning: {address} is plain HTTP off loopback: id-tokens, lease tokens and tunnel bytes cross the network unencrypted").ConfigureAwait(false);
                    }
                }

                if (app.RawLaneAddress() is { } rawLane)
                {
                    Console.Out.WriteLine($"raw-lane {rawLane}");
                    if (rawLane.Scheme == Uri.UriSchemeHttp && !BrokerSettingsReader.IsLoopback(rawLane))
                    {
                        await Console.Error.WriteLineAsync($"ghaport-broker: warning: the raw lane at {rawLane} is plain TCP off loopback: lease tokens and tunnel bytes cross the network unencrypted").ConfigureAwait(false);
                    }
                }

                if (app.AdminAddress() is { } admin)
                {
                    Console.Out.WriteLine($"admin {admin}");
                }

                if (devIssuer is not null)
                {
                    Console.Out.WriteLine($"dev issuer {devIssuer.Issuer}");
                    Console.Out.WriteLine($"export ACTIONS_ID_TOKEN_REQUEST_URL='{devIssuer.RequestUrl}'");
                    Console.Out.WriteLine($"export ACTIONS_ID_TOKEN_REQUEST_TOKEN='{devIssuer.RequestToken}'");
                }

                await app.WaitForShutdownAsync().ConfigureAwait(false);
            }

            return ExitOk;
        }
        finally
        {
            if (devIssuer is not null)
            {
                await devIssuer.DisposeAsync().ConfigureAwait(false);
            }
        }
    }
}
