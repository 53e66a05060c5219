using System.Text.Json;
using GitHubActionsPort.Broker.Configuration;
using Microsoft.IdentityModel.Tokens;

namespace GitHubActionsPort.Broker.Auth;

/// <summary>
/// The signing keys one issuer publishes: read from its OIDC discovery document and JWKS, cached, and refreshed
/// when they age or when a token names a key we do not have, at most once per <see cref="MinRefreshInterval"/>
/// so a flood of tokens with made-up key ids cannot turn into a flood of requests to the issuer.
/// </summary>
internal sealed class IssuerKeys(IssuerSettings issuer, HttpClient http, TimeProvider time) : IDisposable
{
    private static readonly TimeSpan MaxAge = TimeSpan.FromHours(1);
    private static readonly TimeSpan MinRefreshInterval = TimeSpan.FromSeconds(30);

    private readonly SemaphoreSlim _refreshing = new(1, 1);
    private IReadOnlyList<SecurityKey>? _keys;
    private DateTimeOffset _fetchedAt;
    private DateTimeOffset _lastAttempt = DateTimeOffset.MinValue;

    public IssuerSettings Issuer { get; } = issuer;

    /// <summary>Current keys; <paramref name="unknownKeySeen"/> asks for a refresh because a token named a key we lack.</summary>
    public async ValueTask<IReadOnlyList<SecurityKey>> GetAsync(bool unknownKeySeen, CancellationToken cancellationToken)
    {
        var keys = _keys;
        if (keys is not null && !unknownKeySeen && time.GetUtcNow() - _fetchedAt < MaxAge)
        {
            return keys;
        }

        await _refreshing.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var now = time.GetUtcNow();
            if (_keys is not null && (now - _lastAttempt < MinRefreshInterval || (!unknownKeySeen && now - _fetchedAt < MaxAge)))
            {
                return _keys;
            }

            _lastAttempt = now;
            _keys = await FetchAsync(cancellationToken).ConfigureAwait(false);
            _fetchedAt = now;
            return _keys;
        }
        finally
        {
            _refreshing.Release();
        }
    }

    public void Dispose() => _refreshing.Dispose();

    private async Task<IReadOnlyList<SecurityKey>> FetchAsync(CancellationToken cancellationToken)
    {
        var discoveryUrl = Issuer.Issuer.TrimEnd('/') + "/.well-known/openid-configuration";
        var discovery = await GetJsonAsync(new Uri(discoveryUrl), cancellationToken).ConfigureAwait(false);
        using (discovery)
        {
            var root = discovery.RootElement;
            if (!root.TryGetProperty("issuer", out var issuerElement) || issuerElement.GetString() != Issuer.Issuer)
            {
                throw new IssuerUnavailableException($"The discovery document of {Issuer.Issuer} names a different issuer.");
            }

            if (!root.TryGetProperty("jwks_uri", out var jwksElement)
                || !Uri.TryCreate(jwksElement.GetString(), UriKind.Absolute, out var jwksUri)
                || !(jwksUri.Scheme == Uri.UriSchemeHttps || (jwksUri.Scheme == Uri.UriSchemeHttp && BrokerSettingsReader.IsLoopback(jwksUri))))
            {
                throw new IssuerUnavailableException($"The discovery document of {Issuer.Issuer} has no usable https jwks_uri.");
            }

            var jwksText = await GetStringAsync(jwksUri, cancellationToken).ConfigureAwait(false);
            var set = new JsonWebKeySet(jwksText);
            var keys = set.GetSigningKeys();
            if (keys.Count == 0)
            {
                throw new IssuerUnavailableException($"The JWKS of {Issuer.Issuer} holds no usable signing key.");
            }

            return keys.ToArray();
        }
    }

    private async Task<JsonDocument> GetJsonAsync(Uri uri, CancellationToken cancellationToken)
    {
        var text = await GetStringAsync(uri, cancellationToken).ConfigureAwait(false);
        try
        {
            return JsonDocument.Parse(text);
        }
        catch (JsonException ex)
        {
            throw new IssuerUnavailableException($"{uri} did not return JSON.", ex);
        }
    }

    private async Task<string> GetStringAsync(Uri uri, CancellationToken cancellationToken)
    {
        try
        {
            // The client's MaxResponseContentBufferSize and Timeout bound what an issuer can make us hold or wait for.
            return await http.GetStringAsync(uri, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            throw new IssuerUnavailableException($"Could not fetch {uri}: {ex.Message}", ex);
        }
    }
}
