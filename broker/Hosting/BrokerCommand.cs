using System.Net.Sockets;
using System.Runtime.CompilerServices;
using GitHubActionsPort.Broker.Admin;
using GitHubActionsPort.Broker.Configuration;

namespace GitHubActionsPort.Broker.Hosting;

/// <summary>
/// The <c>ghaport-broker</c> command line. Exit codes: 0 stopped cleanly (or, for <c>policy explain</c>, the token
/// would be granted), 1 unexpected failure, 2 bad command line or configuration, 3 could not listen; for
/// <c>policy explain</c> also 5 the token fails verification and 6 the policy would deny it.
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

    private const string Usage = """
        Usage:
          ghaport-broker [run] [--config FILE] [--urls URL] [--Broker:Key=Value ...]
          ghaport-broker dev   [--config FILE] [--target NAME=HOST:PORT ...] [--urls URL]
          ghaport-broker policy explain --token FILE [--targets NAME,...] [--no-verify] [--config FILE ...]
                                        [--dev [--target NAME=HOST:PORT ...]]
          ghaport-broker sessions list [--json] [--config FILE] [--admin-url URL] [--admin-token-file FILE]
          ghaport-broker sessions revoke (--lease ID | --claim NAME=PATTERN ...) [--block] [--reason TEXT] [...]
          ghaport-broker sessions unblock BLOCK-ID [...]
          ghaport-broker audit verify FILE

        run             Serve sessions and tunnels from the Broker configuration section (JSON file, environment,
                        command line). The --config file is watched: a valid change to its targets, rules or lease
                        lengths takes effect at once, and leases the new policy would not grant are ended.
        dev             As run, plus a development OIDC issuer on loopback that mints GitHub-shaped tokens for
                        acme/app. Prints the ACTIONS_ID_TOKEN_REQUEST_* values that point the agent at it. Rules
                        from the configuration must name their Issuer, so dev tokens can never satisfy them.
        policy explain  Judge an id-token (read from FILE, or - for standard input; never printed) against the
                        policy, rule by rule, and print the lease it would get. The signature, audience and
                        lifetime are checked against the issuer unless --no-verify. With --dev (and the same
                        --target flags), the policy is the one 'ghaport-broker dev' runs, its development issuer
                        the token's. Exit 0 would grant, 6 would deny, 5 the token fails verification, 2 bad
                        command line or configuration.
        sessions        Ask the running broker's admin endpoint (Broker:Admin:Url, default http://127.0.0.1:8471,
                        with the credential in Broker:Admin:TokenFile, default admin-token beside the lease signing
                        key): list live leases and blocks; revoke one lease, or every lease whose claims match all
                        the --claim globs (each ends with its tunnels at once), with --block also refusing new
                        sessions that match until 'sessions unblock'. Exit 0 done, 2 bad command line or
                        configuration, 4 cannot reach the endpoint, 5 credential refused, 6 no such lease or block.
        audit verify    Check the audit trail FILE (and its rotated files, FILE.*) link by link. Exit 0 intact,
                        8 broken (the first broken record is named), 2 no such trail.
        """;

    public static async Task<int> RunAsync(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (args.Any(a => a is "-h" or "--help" or "help"))
        {
            Console.Out.WriteLine(Usage);
            return ExitOk;
        }

        if (args is ["audit", "verify", var trail])
        {
            return await AuditVerifyCommand.RunAsync(trail, Console.Out, Console.Error).ConfigureAwait(false);
        }

        if (args.Length > 0 && args[0] == "sessions")
        {
            return await SessionsCommand.RunAsync(args[1..], Console.Out, Console.Error).ConfigureAwait(false);
        }

        BrokerArguments parsed;
        try
        {
            parsed = BrokerArguments.Parse(args);
        }
        catch (ArgumentException ex)
        {
            await Console.Error.WriteLineAsync($"ghaport-broker: {ex.Message}").ConfigureAwait(false);
            await Console.Error.WriteLineAsync(Usage).ConfigureAwait(false);
            return ExitConfiguration;
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
                logging.AddFilter(HostCategory, level => level >= LogLevel.Information && (level != LogLevel.Error || !Volatile.Read(ref starting.Value))));

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
