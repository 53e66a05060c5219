namespace GitHubActionsPort.Broker.Auth;

/// <summary>
/// Registers id-token validation: the validator, the bounded HTTP client it fetches issuer keys with, and the
/// fetch of every issuer's keys at start-up.
/// </summary>
internal static class AuthServiceCollectionExtensions
{
    public static IServiceCollection AddIdTokenValidation(this IServiceCollection services)
    {
        services.AddSingleton<TokenReplayGuard>();
        services.AddSingleton<IdTokenValidator>();
        services.AddSingleton<SessionFailureLimiter>();
        services.AddHostedService<IssuerKeyPrefetch>();
        services.AddHttpClient(IdTokenValidator.HttpClientName, http =>
            {
                http.Timeout = TimeSpan.FromSeconds(10);
                http.MaxResponseContentBufferSize = 256 * 1024;
            })
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false });
        return services;
    }
}
