using System.Net.Sockets;
using GitHubActionsPort.Broker.Configuration;

namespace GitHubActionsPort.Broker.Hosting;

/// <summary>
/// The <c>ghaport-broker</c> command line. Exit codes: 0 stopped cleanly, 1 unexpected failure, 2 bad command
/// line or configuration, 3 could not listen.
/// </summary>
public static class BrokerCommand
{
    public const int ExitOk = 0;
    public const int ExitFailure = 1;
    public const int ExitConfiguration = 2;
    public const int ExitCannotListen = 3;

    private const string Usage = """
        Usage:
          ghaport-broker [run] [--config FILE] [--urls URL] [--Broker:Key=Value ...]
          ghaport-broker dev   [--config FILE] [--target NAME=HOST:PORT ...] [--urls URL]

        run   Serve sessions and tunnels from the Broker configuration section (JSON file, environment, command line).
        dev   As run, plus a development OIDC issuer on loopback that mints GitHub-shaped tokens for acme/app.
              Prints the ACTIONS_ID_TOKEN_REQUEST_* values that point the agent at it.
        """;

    public static async Task<int> RunAsync(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (args.Any(a => a is "-h" or "--help" or "help"))
        {
            Console.Out.WriteLine(Usage);
            return ExitOk;
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

        DevIssuer.DevIssuer? devIssuer = null;
        try
        {
            var overrides = new Dictionary<string, string?>();
            if (parsed.Dev)
            {
                devIssuer = await DevIssuer.DevIssuer.StartAsync().ConfigureAwait(false);
                AddDevConfiguration(overrides, devIssuer, parsed.DevTargets);
            }

            var app = BrokerHost.Build(parsed.HostArgs, parsed.ConfigFiles, overrides);

            await using (app.ConfigureAwait(false))
            {
                await app.StartAsync().ConfigureAwait(false);
                foreach (var address in app.Addresses())
                {
                    Console.Out.WriteLine($"listening {address}");
                    if (address.Scheme == Uri.UriSchemeHttp && !BrokerSettingsReader.IsLoopback(address))
                    {
                        await Console.Error.WriteLineAsync($"ghaport-broker: warning: {address} is plain HTTP off loopback: id-tokens, lease tokens and tunnel bytes cross the network unencrypted").ConfigureAwait(false);
                    }
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
            await Console.Error.WriteLineAsync($"ghaport-broker: configuration file is not valid JSON: {ex.Message}").ConfigureAwait(false);
            return ExitConfiguration;
        }
        catch (IOException ex) when (ex.InnerException is SocketException || ex.Message.Contains("address", StringComparison.OrdinalIgnoreCase))
        {
            await Console.Error.WriteLineAsync($"ghaport-broker: cannot listen: {ex.Message}").ConfigureAwait(false);
            return ExitCannotListen;
        }
        finally
        {
            if (devIssuer is not null)
            {
                await devIssuer.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private static void AddDevConfiguration(Dictionary<string, string?> overrides, DevIssuer.DevIssuer issuer, IReadOnlyList<KeyValuePair<string, string>> targets)
    {
        overrides["Broker:Issuers:dev:Issuer"] = issuer.Issuer;
        overrides["Broker:Issuers:dev:Audiences:0"] = "ghaport";
        if (targets.Count == 0)
        {
            return;
        }

        overrides["Broker:Rules:dev:Name"] = "dev";
        overrides["Broker:Rules:dev:Issuer"] = issuer.Issuer;
        overrides["Broker:Rules:dev:Claims:repository"] = "acme/app";
        for (var i = 0; i < targets.Count; i++)
        {
            overrides[$"Broker:Targets:{targets[i].Key}"] = targets[i].Value;
            overrides[$"Broker:Rules:dev:Targets:{i}"] = targets[i].Key;
        }
    }
}
