using System.Collections.Concurrent;
using System.Security.Cryptography;
using GitHubActionsPort.Broker.Auth;

namespace GitHubActionsPort.Broker.Admin;

/// <summary>
/// The standing blocks an administrator placed, checked on every OpenSession and RenewSession. Kept in memory: a
/// restart of the broker lifts them (its live leases are gone with it too).
/// </summary>
internal sealed class SessionBlocks(TimeProvider time, ILogger<SessionBlocks> logger)
{
    private readonly ConcurrentDictionary<string, SessionBlock> _byId = new(StringComparer.Ordinal);

    public IReadOnlyList<SessionBlock> All => _byId.Values.OrderBy(b => b.CreatedAt).ToList();

    /// <summary>
    /// Blocks a revocation places by itself (one per revoked run attempt) kept at most; past it the oldest of them is
    /// lifted, with a warning. An operator's own blocks are never lifted but by the operator.
    /// </summary>
    internal const int MaxRevocationBlocks = 10_000;

    public SessionBlock Add(ClaimSelector selector, string reason, string by, string? revokedLease = null)
    {
        var block = new SessionBlock("blk_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6)), selector, reason, by, time.GetUtcNow(), revokedLease);
        if (revokedLease is not null)
        {
            var implicitBlocks = _byId.Values.Where(b => b.RevokedLease is not null).ToList();
            foreach (var oldest in implicitBlocks.OrderBy(b => b.CreatedAt).Take(implicitBlocks.Count - MaxRevocationBlocks + 1))
            {
                _byId.TryRemove(oldest.Id, out _);
                AdminLog.AttemptBlockDropped(logger, oldest.Id, oldest.RevokedLease!, MaxRevocationBlocks);
            }
        }

        _byId[block.Id] = block;
        return block;
    }

    public bool TryRemove(string id, out SessionBlock? block) => _byId.TryRemove(id, out block);

    /// <summary>The first block that matches <paramref name="caller"/>, or null when none does.</summary>
    public SessionBlock? Match(CallerIdentity caller)
    {
        if (_byId.IsEmpty)
        {
            return null;
        }

        return _byId.Values.FirstOrDefault(b => b.Selector.Matches(caller));
    }
}
