using System.Net;
using GitHubActionsPort.Broker.Configuration;
using GitHubActionsPort.Broker.Connections;

namespace GitHubActionsPort.Broker.Auth;

/// <summary>
/// Bounds the CPU an address can make the broker spend on id-tokens it rejects (about a millisecond each, for the
/// signature): each address (an IPv6 /64) has a bucket of <see cref="TransportSettings.MaxSessionFailuresPerSource"/>
/// attempts, refilled evenly over <see cref="TransportSettings.SessionFailureWindow"/>. An OpenSession takes one
/// before its token is read and gives it back unless the token was rejected; an empty bucket is answered at once.
/// </summary>
/// <remarks>
/// Taking before checking (rather than counting after) keeps a burst of concurrent calls from one address within
/// the bucket too. The table holds at most <see cref="MaxSources"/> addresses: a full bucket carries no information
/// and is dropped first, then the least recently used.
/// </remarks>
internal sealed class SessionFailureLimiter(BrokerSettings settings, TimeProvider time)
{
    /// <summary>Addresses remembered at once.</summary>
    internal const int MaxSources = 16_384;

    private readonly Lock _lock = new();
    private readonly Dictionary<IPAddress, Bucket> _buckets = [];
    private readonly double _capacity = settings.Transport.MaxSessionFailuresPerSource;
    private readonly double _perSecond = settings.Transport.MaxSessionFailuresPerSource / settings.Transport.SessionFailureWindow.TotalSeconds;

    /// <summary>Addresses remembered now.</summary>
    internal int Count
    {
        get
        {
            lock (_lock)
            {
                return _buckets.Count;
            }
        }
    }

    /// <summary>
    /// Takes one attempt for <paramref name="address"/>; false, with how long until one is free, when its bucket is
    /// empty. A call that is not over IP (a Unix socket: a local caller) is not limited.
    /// </summary>
    public bool TryTake(IPAddress? address, out TimeSpan retryAfter)
    {
        retryAfter = TimeSpan.Zero;
        if (SourceAddress.Of(address) is not { } source)
        {
            return true;
        }

        var now = time.GetTimestamp();
        lock (_lock)
        {
            if (!_buckets.TryGetValue(source, out var bucket))
            {
                MakeRoom(now);
                bucket = new Bucket { Tokens = _capacity, Updated = now };
                _buckets.Add(source, bucket);
            }

            Refill(bucket, now);
            bucket.LastUsed = now;
            if (bucket.Tokens < 1)
            {
                retryAfter = TimeSpan.FromSeconds(Math.Ceiling((1 - bucket.Tokens) / _perSecond));
                return false;
            }

            bucket.Tokens -= 1;
            return true;
        }
    }

    /// <summary>Gives back the attempt <see cref="TryTake"/> took: the token was not rejected.</summary>
    public void Return(IPAddress? address)
    {
        if (SourceAddress.Of(address) is not { } source)
        {
            return;
        }

        lock (_lock)
        {
            if (_buckets.TryGetValue(source, out var bucket))
            {
                bucket.Tokens = Math.Min(_capacity, bucket.Tokens + 1);
            }
        }
    }

    private void Refill(Bucket bucket, long now)
    {
        bucket.Tokens = Math.Min(_capacity, bucket.Tokens + (time.GetElapsedTime(bucket.Updated, now).TotalSeconds * _perSecond));
        bucket.Updated = now;
    }

    /// <summary>At the cap: drops every bucket that has refilled, and if that frees nothing, the oldest eighth.</summary>
    private void MakeRoom(long now)
    {
        if (_buckets.Count < MaxSources)
        {
            return;
        }

        foreach (var (source, bucket) in _buckets)
        {
            Refill(bucket, now);
            if (bucket.Tokens >= _capacity)
            {
                _buckets.Remove(source);
            }
        }

        if (_buckets.Count < MaxSources)
        {
            return;
        }

        foreach (var source in _buckets.OrderBy(b => b.Value.LastUsed).Take(MaxSources / 8).Select(b => b.Key).ToList())
        {
            _buckets.Remove(source);
        }
    }

    private sealed class Bucket
    {
        public double Tokens { get; set; }

        public long Updated { get; set; }

        public long LastUsed { get; set; }
    }
}
