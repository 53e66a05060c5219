using System.Collections.Concurrent;
using GitHubActionsPort.Agent.Cli;

namespace GitHubActionsPort.Agent.Forwarding;

/// <summary>
/// What each forward has carried so far: for <c>ghaport status</c> and the job's step summary. Counted per forward
/// (two forwards to one target are two rows), and summed per target where a target's totals are wanted.
/// </summary>
public sealed class ForwardStats
{
    /// <summary>By the forward itself, not its text: two <c>0:db</c> forwards are equal records but two forwards.</summary>
    private readonly ConcurrentDictionary<ForwardSpec, Counters> _byForward = new(ReferenceEqualityComparer.Instance);

    /// <summary>A snapshot per target (its forwards summed), in target order.</summary>
    public IReadOnlyList<ForwardTotals> Snapshot() =>
        _byForward.GroupBy(p => p.Key.Target, StringComparer.Ordinal)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => ForwardTotals.Sum(g.Key, g.Select(p => p.Value.Snapshot(g.Key))))
            .ToList();

    /// <summary>The totals of one forward; zeros when it has carried nothing.</summary>
    public ForwardTotals Of(ForwardSpec forward)
    {
        ArgumentNullException.ThrowIfNull(forward);
        return _byForward.TryGetValue(forward, out var counters) ? counters.Snapshot(forward.Target) : ForwardTotals.Sum(forward.Target, []);
    }

    internal void Opened(ForwardSpec forward) => For(forward).Opened();

    internal void Closed(ForwardSpec forward, long bytesSent, long bytesReceived, TimeSpan duration, bool failed) =>
        For(forward).Closed(bytesSent, bytesReceived, duration, failed);

    internal void Refused(ForwardSpec forward) => For(forward).Refused();

    private Counters For(ForwardSpec forward) => _byForward.GetOrAdd(forward, _ => new Counters());

    private sealed class Counters
    {
        private long _connections;
        private long _active;
        private long _failed;
        private long _refused;
        private long _bytesSent;
        private long _bytesReceived;
        private long _durationTicks;

        public void Opened()
        {
            Interlocked.Increment(ref _connections);
            Interlocked.Increment(ref _active);
        }

        public void Closed(long bytesSent, long bytesReceived, TimeSpan duration, bool failed)
        {
            Interlocked.Decrement(ref _active);
            Interlocked.Add(ref _bytesSent, bytesSent);
            Interlocked.Add(ref _bytesReceived, bytesReceived);
            Interlocked.Add(ref _durationTicks, duration.Ticks);
            if (failed)
            {
                Interlocked.Increment(ref _failed);
            }
        }

        public void Refused() => Interlocked.Increment(ref _refused);

        public ForwardTotals Snapshot(string target) => new(
            target,
            Interlocked.Read(ref _connections),
            Interlocked.Read(ref _active),
            Interlocked.Read(ref _failed),
            Interlocked.Read(ref _refused),
            Interlocked.Read(ref _bytesSent),
            Interlocked.Read(ref _bytesReceived),
            TimeSpan.FromTicks(Interlocked.Read(ref _durationTicks)));
    }
}

/// <summary>Totals of one forward (or of a target's forwards): connections (live ones too), failures, refusals, bytes each way, time open.</summary>
public sealed record ForwardTotals(string Target, long Connections, long Active, long Failed, long Refused, long BytesSent, long BytesReceived, TimeSpan TotalDuration)
{
    /// <summary>The totals of <paramref name="parts"/> added up, under <paramref name="target"/>.</summary>
    public static ForwardTotals Sum(string target, IEnumerable<ForwardTotals> parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        var all = parts.ToList();
        return new(
            target,
            all.Sum(t => t.Connections),
            all.Sum(t => t.Active),
            all.Sum(t => t.Failed),
            all.Sum(t => t.Refused),
            all.Sum(t => t.BytesSent),
            all.Sum(t => t.BytesReceived),
            TimeSpan.FromTicks(all.Sum(t => t.TotalDuration.Ticks)));
    }
}
