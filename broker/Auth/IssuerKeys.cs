using System.Text.Json;
using GitHubActionsPort.Broker.Configuration;
using Microsoft.IdentityModel.Tokens;

namespace GitHubActionsPort.Broker.Auth;

/// <summary>
/// The signing keys one issuer publishes, read from its OIDC discovery document and JWKS. One refresh runs at a
/// time, on the broker's own schedule: callers only wait for it, so a caller that gives up cannot cancel it.
/// Refreshes come from two sources, each throttled to one per <see cref="MinRefreshInterval"/> on its own: the
/// schedule (no keys yet, or keys older than <see cref="MaxAge"/>), and tokens naming a key we lack, so a flood
/// of unknown <c>kid</c>s costs the issuer at most one fetch per interval.
/// A successful refresh replaces the keys outright, so a key the issuer withdrew stops working; a failed one
/// keeps the keys of the last success until the next attempt.
/// </summary>
internal sealed class IssuerKeys(IssuerSettings issuer, HttpClient http, TimeProvider time)
{
    private static readonly TimeSpan MaxAge = TimeSpan.FromHours(1);

    /// <summary>How long keys from the last good fetch stay in use while refreshes fail.</summary>
    private static readonly TimeSpan MaxStaleAge = TimeSpan.FromHours(24);
    private static readonly TimeSpan MinRefreshInterval = TimeSpan.FromSeconds(30);

    private readonly Lock _gate = new();
    private KeySnapshot? _current;
    private DateTimeOffset _lastAttempt = DateTimeOffset.MinValue;
    private DateTimeOffset _lastRequested = DateTimeOffset.MinValue;
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
            var stale = current is null || now - current.FetchedAt >= MaxAge;
            if (_refreshing is null)
            {
                // Throttled apart, as Microsoft.IdentityModel's ConfigurationManager throttles RequestRefresh apart
                // from its automatic refresh: a key the issuer rotated in just after a scheduled fetch is still
                // found by the first token that names it, and an issuer that is down is asked once per interval.
                var scheduled = stale && now - _lastAttempt >= MinRefreshInterval;
                var requested = unknownKeySeen && now - _lastRequested >= MinRefreshInterval;
                if (scheduled || requested)
                {
                    _lastAttempt = now;
                    _lastRequested = requested ? now : _lastRequested;
                    // Run apart from this lock and this caller: RefreshAsync takes the lock when it ends, and must
                    // not end before _refreshing is set, or it could never be cleared.
                    _refreshing = Task.Run(RefreshAsync, CancellationToken.None);
                }
            }

            // Fresh keys serve a token that names one of them at once, even while a refresh runs for another.
            if (_refreshing is null || (!stale && !unknownKeySeen))
            {
                return current?.Keys ?? throw _lastFailure ?? new IssuerUnavailableException($"No signing keys of {Issuer.Issuer} yet.");
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
            Telemetry.BrokerMetrics.KeysRefreshed(succeeded: true);
            lock (_gate)
            {
                _current = snapshot;
                _lastFailure = null;
            }

            return snapshot;
        }
        catch (Exception ex)
        {
            Telemetry.BrokerMetrics.KeysRefreshed(succeeded: false);
            var failure = ex as IssuerUnavailableException ?? new IssuerUnavailableException($"The signing keys of {Issuer.Issuer} are unusable: {ex.Message}", ex);
            lock (_gate)
            {
                _lastFailure = failure;
                // Riding out a short outage, not a long one: whoever can cut the broker off from its issuer for
                // long must not keep a withdrawn key working.
                if (_current is { } stale && time.GetUtcNow() - stale.FetchedAt < MaxStaleAge)
                {
                    return stale;
                }

                _current = null;
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
            || !BrokerSettingsReader.IsHttpsOrLoopbackHttp(jwksUri))
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
