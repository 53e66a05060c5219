using GitHubActionsPort.Broker.Audit;

namespace GitHubActionsPort.Broker.Hosting;

/// <summary><c>ghaport-broker audit verify FILE</c>: walks the trail's hash chain and names the first broken record.</summary>
internal static class AuditVerifyCommand
{
    public const int ExitBroken = 8;

    public static async Task<int> RunAsync(string trail, TextWriter output, TextWriter error)
    {
        if (!File.Exists(trail))
        {
            await error.WriteLineAsync($"ghaport-broker: no audit trail at {trail}").ConfigureAwait(false);
            return BrokerCommand.ExitConfiguration;
        }

        var result = AuditVerifier.Verify(trail);
        if (result.IsIntact)
        {
            var window = result.FirstRecord == 1 ? string.Empty
                : result.OlderRemovedByRetention ? $" from record {result.FirstRecord} (older files were removed by retention)"
                : $" from record {result.FirstRecord} (the files before it are not here, and no retention record removed them)";
            await output.WriteLineAsync($"audit trail intact: {result.Records} records{window}").ConfigureAwait(false);
            return BrokerCommand.ExitOk;
        }

        await error.WriteLineAsync($"ghaport-broker: audit trail broken at {result.BrokenFile} line {result.BrokenLine}: {result.Problem} ({result.Records} records verified before it)").ConfigureAwait(false);
        return ExitBroken;
    }
}
