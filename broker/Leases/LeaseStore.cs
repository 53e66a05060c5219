using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using GitHubActionsPort.Broker.Auth;

namespace GitHubActionsPort.Broker.Leases;

/// <summary>
/// The live leases. A lease token is 256 random bits handed to the agent once; the store keeps only its SHA-256,
/// so neither a memory dump nor a log line holds a usable token.
/// </summary>
internal sealed class LeaseStore(TimeProvider time) : IDisposable
{
    private const string TokenPrefix = "ghl_";

    private readonly ConcurrentDictionary<string, Lease> _byTokenHash = new(StringComparer.Ordinal);

    public int Count => _byTokenHash.Count;

    /// <summary>The leases not yet ended.</summary>
    public IEnumerable<Lease> Live => _byTokenHash.Values.Where(l => !l.IsEnded);

    public (Lease Lease, string Token) Grant(CallerIdentity caller, IReadOnlyCollection<string> targets, TimeSpan ttl, int maxConnections)
    {
        var token = TokenPrefix + Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));
        var id = "lse_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        var hash = Hash(token);
        var lease = new Lease(id, caller, targets.ToHashSet(StringComparer.Ordinal), time.GetUtcNow() + ttl, maxConnections, time);
        _byTokenHash[hash] = lease;
        // Tunnels still hold the lease's token when it fires, so the lease is dropped here, not disposed.
        lease.Ended.Register(() => _byTokenHash.TryRemove(new KeyValuePair<string, Lease>(hash, lease)));
        return (lease, token);
    }

    /// <summary>The live lease a token stands for, or null for an unknown, expired or revoked one.</summary>
    public Lease? Find(string? token)
    {
        if (token is null || !token.StartsWith(TokenPrefix, StringComparison.Ordinal) || token.Length > 128)
        {
            return null;
        }

        return _byTokenHash.TryGetValue(Hash(token), out var lease) && !lease.IsEnded ? lease : null;
    }

    public void Dispose()
    {
        foreach (var lease in _byTokenHash.Values)
        {
            lease.End("the broker is stopping");
            lease.Dispose();
        }
    }

    private static string Hash(string token) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(token)));
}
