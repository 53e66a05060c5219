using System.Net.Http.Headers;
using System.Text.Json;
using GitHubActionsPort.Agent.Cli;

namespace GitHubActionsPort.Agent.Tokens;

/// <summary>
/// Where the job's id-token comes from: a file or variable when named, else GitHub Actions' token endpoint. The
/// token is held in memory only; it is never logged and never written anywhere.
/// </summary>
internal static class IdTokenSource
{
    private const int MaxResponseBytes = 64 * 1024;
    private const string PermissionHint = "in GitHub Actions give the job 'permissions: id-token: write'; elsewhere pass --id-token-file or --id-token-env";

    public static async Task<string> GetAsync(UpArguments args, Func<string, string?> environment, CancellationToken cancellationToken)
    {
        if (args.IdTokenFile is { } file)
        {
            string text;
            try
            {
                text = await File.ReadAllTextAsync(file, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new AgentException(ExitCodes.IdTokenUnavailable, $"cannot read the id-token file '{file}': {ex.Message}", ex);
            }

            return NonEmpty(text.Trim(), $"the id-token file '{file}' is empty");
        }

        if (args.IdTokenEnv is { } variable)
        {
            return NonEmpty(environment(variable)?.Trim(), $"the environment variable {variable} named by --id-token-env is empty or not set");
        }

        var url = environment("ACTIONS_ID_TOKEN_REQUEST_URL");
        var requestToken = environment("ACTIONS_ID_TOKEN_REQUEST_TOKEN");
        if (string.IsNullOrEmpty(url) || string.IsNullOrEmpty(requestToken))
        {
            throw new AgentException(ExitCodes.IdTokenUnavailable, $"no id-token: ACTIONS_ID_TOKEN_REQUEST_URL is not set; {PermissionHint}");
        }

        return await RequestFromGitHubAsync(url, requestToken, args.Audience, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Where renewals get fresh id-tokens: GitHub Actions' endpoint gives a new one on every request; a file or a
    /// variable holds one token only, so a lease opened with it cannot be renewed (null).
    /// </summary>
    public static Func<CancellationToken, Task<string>>? FreshTokens(UpArguments args, Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(environment);
        if (args.IdTokenFile is not null || args.IdTokenEnv is not null)
        {
            return null;
        }

        var url = environment("ACTIONS_ID_TOKEN_REQUEST_URL");
        var requestToken = environment("ACTIONS_ID_TOKEN_REQUEST_TOKEN");
        return string.IsNullOrEmpty(url) || string.IsNullOrEmpty(requestToken)
            ? null
            : cancellationToken => RequestFromGitHubAsync(url, requestToken, args.Audience, cancellationToken);
    }

    private static async Task<string> RequestFromGitHubAsync(string url, string requestToken, string audience, CancellationToken cancellationToken)
    {
        var separator = url.Contains('?', StringComparison.Ordinal) ? '&' : '?';
        if (!Uri.TryCreate($"{url}{separator}audience={Uri.EscapeDataString(audience)}", UriKind.Absolute, out var requestUri))
        {
            throw new AgentException(ExitCodes.IdTokenUnavailable, "ACTIONS_ID_TOKEN_REQUEST_URL is not a URL");
        }

        using var http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false })
        {
            Timeout = TimeSpan.FromSeconds(15),
            MaxResponseContentBufferSize = MaxResponseBytes,
        };
        using var request = new HttpRequestMessage(HttpMethod.Get, requestUri);
        request.Headers.Authorization = new AuthenticationHeaderValue("bearer", requestToken);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));

        try
        {
            using var response = await http.SendAsync(request, cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                throw new AgentException(ExitCodes.IdTokenUnavailable,
                    $"the GitHub Actions token endpoint answered {(int)response.StatusCode} {response.ReasonPhrase}; {PermissionHint}");
            }

            var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            using var json = JsonDocument.Parse(body);
            var value = json.RootElement.TryGetProperty("value", out var element) && element.ValueKind == JsonValueKind.String ? element.GetString() : null;
            return NonEmpty(value, "the GitHub Actions token endpoint answered without a token");
        }
        catch (Exception ex) when (ex is HttpRequestException or JsonException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            throw new AgentException(ExitCodes.IdTokenUnavailable, $"could not get an id-token from GitHub Actions: {ex.Message}", ex);
        }
    }

    private static string NonEmpty(string? token, string error) =>
        string.IsNullOrEmpty(token) ? throw new AgentException(ExitCodes.IdTokenUnavailable, error) : token;
}
