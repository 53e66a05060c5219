using System.Text.Json;
using GitHubActionsPort.Broker.Configuration;
using Microsoft.IdentityModel.Tokens;

namespace GitHubActionsPort.Broker.Auth;

/// <summary>
/// The signing keys one issuer publishes, read from its OIDC discovery document and JWKS. One refresh runs at a
/// time, on the broker's own schedule: callers only wait for it, so a caller that gives up cannot cancel it, and
/// a flood of tokens naming unknown keys triggers at most one fetch per <see cref="MinRefreshInterval"/>.
/// A successful refresh replaces the keys outright, so a key the issuer withdrew stops working; a failed one
/// keeps the keys of the last success until the next attempt.
/// </summary>
internal sealed class IssuerKeys(IssuerSettings issuer, HttpClient http, TimeProvider time)
{
    private static readonly TimeSpan MaxAge = TimeSpan.FromHours(1);
    private static readonly TimeSpan MinRefreshInterval = TimeSpan.FromSeconds(30);

    private readonly Lock _gate = new();
    private KeySnapshot? _current;
    private DateTimeOffset _lastAttempt = DateTimeOffset.MinValue;
    private IssuerUnavailableException? _lastFailure;
    private Task<KeySnapshot>? _refreshing;

    public IssuerSettings Issuer { get; } = issuer;

    /// <summary>Current keys; <paramref name="unknownKeySeen"/> asks for a refresh because a token named a key we lack.</summary>
    public async Task<IReadOnlyList<SecurityKey>> GetAsync(bool unknownKeySeen, CancellationToken cancellationToken)
    {
        Task<KeySnapshot> refresh;
        lock (_gate)
        {
            var now = time.GetUtcNow();
            var current = _current;
            var due = current is null || now - current.FetchedAt >= MaxAge || unknownKeySeen;
            var allowed = now - _lastAttempt >= MinRefreshInterval;
            if (_refreshing is null && (!due || !allowed))
            {
                return current?.Keys ?? throw _lastFailure ?? new IssuerUnavailableException($"No signing keys of {Issuer.Issuer} yet.");
            }

            if (_refreshing is null)
            {
                _lastAttempt = now;
                _refreshing = RefreshAsync();
            }

            refresh = _refreshing;
        }

        return (await refresh.WaitAsync(cancellationToken).ConfigureAwait(false)).Keys;
    }

    private async Task<KeySnapshot> RefreshAsync()
    {
        try
        {
            // Not the caller's token: the HttpClient's timeout bounds the fetch, and every waiter shares it.
            var keys = await FetchAsync(CancellationToken.None).ConfigureAwait(false);
            var snapshot = new KeySnapshot(keys, time.GetUtcNow());
            lock (_gate)
            {
                _current = snapshot;
                _lastFailure = null;
            }

            return snapshot;
        }
        catch (Exception ex)
        {
            var failure = ex as IssuerUnavailableException ?? new IssuerUnavailableException($"The signing keys of {Issuer.Issuer} are unusable: {ex.Message}", ex);
            lock (_gate)
            {
                _lastFailure = failure;
                if (_current is { } stale)
                {
                    return stale;
                }
            }

            throw failure;
        }
        finally
        {
            lock (_gate)
            {
                _refreshing = null;
            }
        }
    }

    private async Task<IReadOnlyList<SecurityKey>> FetchAsync(CancellationToken cancellationToken)
    {
        var discoveryUrl = new Uri(Issuer.Issuer.TrimEnd('/') + "/.well-known/openid-configuration");
        using var discovery = JsonDocument.Parse(await GetStringAsync(discoveryUrl, cancellationToken).ConfigureAwait(false));
        var root = discovery.RootElement;
        if (root.ValueKind != JsonValueKind.Object
            || !root.TryGetProperty("issuer", out var issuerElement)
            || issuerElement.ValueKind != JsonValueKind.String
            || issuerElement.GetString() != Issuer.Issuer)
        {
            throw new IssuerUnavailableException($"The discovery document of {Issuer.Issuer} names a different issuer.");
        }

        if (!root.TryGetProperty("jwks_uri", out var jwksElement)
            || jwksElement.ValueKind != JsonValueKind.String
            || !Uri.TryCreate(jwksElement.GetString(), UriKind.Absolute, out var jwksUri)
            || !(jwksUri.Scheme == Uri.UriSchemeHttps || (jwksUri.Scheme == Uri.UriSchemeHttp && BrokerSettingsReader.IsLoopback(jwksUri))))
        {
            throw new IssuerUnavailableException($"The discovery document of {Issuer.Issuer} has no usable https jwks_uri.");
        }

        var keys = new JsonWebKeySet(await GetStringAsync(jwksUri, cancellationToken).ConfigureAwait(false)).GetSigningKeys();
        if (keys.Count == 0)
        {
            throw new IssuerUnavailableException($"The JWKS of {Issuer.Issuer} holds no usable signing key.");
        }

        return keys.ToArray();
    }

    private async Task<string> GetStringAsync(Uri uri, CancellationToken cancellationToken)
    {
        try
        {
            // The client's MaxResponseContentBufferSize and Timeout bound what an issuer can make us hold or wait for.
            return await http.GetStringAsync(uri, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            throw new IssuerUnavailableException($"Could not fetch {uri}: {ex.Message}", ex);
        }
    }

    private sealed record KeySnapshot(IReadOnlyList<SecurityKey> Keys, DateTimeOffset FetchedAt);
}
