using GitHubActionsPort.Broker.Store;

namespace GitHubActionsPort.Broker.Auth;

/// <summary>
/// Each id-token opens at most one session, at any instance: its (<c>iss</c>, <c>jti</c>) is recorded in the store
/// until the token could no longer pass validation anyway (its expiry plus the clock skew), so the store holds only
/// tokens still alive, and a token copied from a job's log or memory cannot be replayed here or at another instance.
/// The store prunes the records past their time.
/// </summary>
internal sealed class TokenReplayGuard(IBrokerStore store)
{
    /// <summary>
    /// Records the token; false if any instance saw it before. Throws <see cref="StoreUnavailableException"/> when the
    /// store cannot say: the token may be fine, so the session is refused as unavailable, not as a bad token.
    /// </summary>
    public Task<bool> TryUseAsync(string issuer, string tokenId, DateTimeOffset rememberUntil, CancellationToken cancellationToken) =>
        store.TryUseIdTokenAsync(issuer, tokenId, rememberUntil, cancellationToken);
}
