namespace GitHubActionsPort.Broker.Auth;

/// <summary>
/// Fetches every issuer's signing keys as the broker starts, so the first job does not wait for them and an
/// issuer that is unreachable or misconfigured is reported at once rather than at the first job. It never holds
/// up start-up: until the keys arrive, tokens of that issuer are refused as Unavailable (fail closed).
/// </summary>
internal sealed partial class IssuerKeyPrefetch(IdTokenValidator validator, ILogger<IssuerKeyPrefetch> logger) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(validator.Issuers.Select(issuer => PrefetchAsync(issuer, stoppingToken)));

    private async Task PrefetchAsync(IssuerKeys issuer, CancellationToken stoppingToken)
    {
        try
        {
            var keys = await issuer.GetAsync(unknownKeySeen: false, stoppingToken).ConfigureAwait(false);
            Log.KeysLoaded(logger, issuer.Issuer.Issuer, keys.Count);
        }
        catch (IssuerUnavailableException ex)
        {
            Log.KeysUnavailable(logger, issuer.Issuer.Issuer, ex.Message, ex);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // The broker stopped before the issuer answered: nothing is wrong.
        }
    }

    private static partial class Log
    {
        [LoggerMessage(40, LogLevel.Information, "Signing keys of {Issuer} loaded: {KeyCount} key(s)", EventName = "IssuerKeysLoaded")]
        public static partial void KeysLoaded(ILogger logger, string issuer, int keyCount);

        [LoggerMessage(41, LogLevel.Error, "Signing keys of {Issuer} could not be loaded at start-up; its id-tokens are refused until they can: {Reason}", EventName = "IssuerKeysUnavailable")]
        public static partial void KeysUnavailable(ILogger logger, string issuer, string reason, Exception exception);
    }
}
