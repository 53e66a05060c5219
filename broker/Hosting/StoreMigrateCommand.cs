using GitHubActionsPort.Broker.Configuration;
using GitHubActionsPort.Broker.Store;

namespace GitHubActionsPort.Broker.Hosting;

/// <summary>
/// <c>ghaport-broker store migrate</c>: reads the configuration as the broker does, opens its store (creating the
/// schema or bringing it to this broker's version, as start-up would) and says where it stands, for operators who run
/// migrations as a step of their own before they roll out brokers.
/// </summary>
internal static class StoreMigrateCommand
{
    /// <summary>How long opening the store may take, a wait for another broker's migration included.</summary>
    private static readonly TimeSpan OpenTimeout = TimeSpan.FromMinutes(2);

    public static async Task<int> RunAsync(IReadOnlyList<string> configFiles, IReadOnlyList<string> switches, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        try
        {
            // The broker's own host, built but never started: the same configuration sources and checks.
            var app = BrokerHost.Build([.. switches], configFiles, logging: logging => logging.ClearProviders());
            await using (app.ConfigureAwait(false))
            {
                var store = app.Services.GetRequiredService<IBrokerStore>();
                if (store.Kind == StoreKind.Memory)
                {
                    await output.WriteLineAsync("store memory: nothing to migrate (nothing is kept beyond one process)").ConfigureAwait(false);
                    return BrokerCommand.ExitOk;
                }

                using var timeout = new CancellationTokenSource(OpenTimeout);
                await store.OpenAsync(timeout.Token).ConfigureAwait(false);
                var version = store.SchemaVersion;
                await output.WriteLineAsync($"store {store.Describe()}: schema version {version}").ConfigureAwait(false);
                return BrokerCommand.ExitOk;
            }
        }
        catch (BrokerConfigurationException ex)
        {
            await error.WriteLineAsync($"ghaport-broker: {ex.Message}").ConfigureAwait(false);
            return BrokerCommand.ExitConfiguration;
        }
        catch (FileNotFoundException ex)
        {
            await error.WriteLineAsync($"ghaport-broker: configuration file not found: {ex.FileName ?? ex.Message}").ConfigureAwait(false);
            return BrokerCommand.ExitConfiguration;
        }
        catch (InvalidDataException ex)
        {
            await error.WriteLineAsync($"ghaport-broker: configuration file is not valid JSON: {ex.Message} {JsonFileError.Describe(ex)}").ConfigureAwait(false);
            return BrokerCommand.ExitConfiguration;
        }
        catch (StoreUnavailableException ex)
        {
            // As at start-up: the store may come back, so this is not a configuration error (which a retry cannot fix).
            await error.WriteLineAsync($"ghaport-broker: cannot open the state store: {ex.Message}").ConfigureAwait(false);
            return BrokerCommand.ExitFailure;
        }
        catch (OperationCanceledException)
        {
            await error.WriteLineAsync($"ghaport-broker: cannot open the state store: no answer within {OpenTimeout.TotalMinutes:0} minutes").ConfigureAwait(false);
            return BrokerCommand.ExitFailure;
        }
    }
}
