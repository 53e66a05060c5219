using System.Collections.Concurrent;

namespace GitHubActionsPort.Broker.Auth;

/// <summary>
/// Each id-token opens at most one session: its (<c>iss</c>, <c>jti</c>) is remembered until the token could no
/// longer pass validation anyway (its expiry plus the clock skew), so memory is bounded by the tokens that are
/// still alive, and a token copied from a job's log or memory cannot be replayed.
/// </summary>
internal sealed class TokenReplayGuard(TimeProvider time)
{
    private readonly ConcurrentDictionary<(string Issuer, string TokenId), DateTimeOffset> _seen = new();
    private long _nextSweep;

    /// <summary>Records the token; false if it was seen before.</summary>
    public bool TryUse(string issuer, string tokenId, DateTimeOffset rememberUntil)
    {
        SweepExpired();
        return _seen.TryAdd((issuer, tokenId), rememberUntil);
    }

    private void SweepExpired()
    {
        var now = time.GetUtcNow();
        var due = Interlocked.Read(ref _nextSweep);
        if (now.UtcTicks < due || Interlocked.CompareExchange(ref _nextSweep, now.AddSeconds(30).UtcTicks, due) != due)
        {
            return;
        }

        foreach (var (key, until) in _seen)
        {
            if (until < now)
            {
                _seen.TryRemove(new KeyValuePair<(string, string), DateTimeOffset>(key, until));
            }
        }
    }
}
