using System.Collections.Concurrent;

namespace GitHubActionsPort.Agent.Forwarding;

/// <summary>What each forward has carried so far: for <c>ghaport status</c> and the job's step summary.</summary>
public sealed class ForwardStats
{
    private readonly ConcurrentDictionary<string, Counters> _byTarget = new(StringComparer.Ordinal);

    /// <summary>A snapshot per target, in target order.</summary>
    public IReadOnlyList<ForwardTotals> Snapshot() =>
        _byTarget.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => p.Value.Snapshot(p.Key)).ToList();

    internal void Opened(string target) => For(target).Opened();

    internal void Closed(string target, long bytesSent, long bytesReceived, TimeSpan duration, bool failed) =>
        For(target).Closed(bytesSent, bytesReceived, duration, failed);

    internal void Refused(string target) => For(target).Refused();

    private Counters For(string target) => _byTarget.GetOrAdd(target, _ => new Counters());

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

/// <summary>Totals of one forward's target: connections (live ones too), failures, bytes each way, time open.</summary>
public sealed record ForwardTotals(string Target, long Connections, long Active, long Failed, long Refused, long BytesSent, long BytesReceived, TimeSpan TotalDuration);
