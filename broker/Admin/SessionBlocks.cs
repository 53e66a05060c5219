using System.Collections.Concurrent;
using System.Security.Cryptography;
using GitHubActionsPort.Broker.Auth;

namespace GitHubActionsPort.Broker.Admin;

/// <summary>
/// The standing blocks an administrator placed, checked on every OpenSession and RenewSession. Kept in memory: a
/// restart of the broker lifts them (its live leases are gone with it too).
/// </summary>
internal sealed class SessionBlocks(TimeProvider time)
{
    private readonly ConcurrentDictionary<string, SessionBlock> _byId = new(StringComparer.Ordinal);

    public IReadOnlyList<SessionBlock> All => _byId.Values.OrderBy(b => b.CreatedAt).ToList();

    public SessionBlock Add(ClaimSelector selector, string reason, string by)
    {
        var block = new SessionBlock("blk_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6)), selector, reason, by, time.GetUtcNow());
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
