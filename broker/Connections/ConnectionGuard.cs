using System.Net;
using GitHubActionsPort.Broker.Telemetry;

namespace GitHubActionsPort.Broker.Connections;

/// <summary>
/// Keeps one listener (or a group of listeners sharing a limit) usable while outsiders hold connections open.
/// Every accepted connection starts unproven: it has <see cref="ConnectionGuardOptions.ProveTimeout"/> to show it is
/// one of ours (TLS handshake included), once the listener is half full one source may hold only so many unproven at
/// once, and when the listener is full the oldest unproven connection is closed to make room for the new one. A proven connection (an agent that
/// opened a session or showed its lease) is never evicted: idle sockets can push out only other idle sockets.
/// </summary>
/// <remarks>
/// Eviction rather than refusal is the point: refusing at the limit is what let 10,000 silent connections lock every
/// agent out for minutes. An unproven connection with a request in flight is not evicted either (it is about to prove
/// itself or be answered), but it gets only <see cref="ConnectionGuardOptions.RequestGrace"/> past its deadline.
/// </remarks>
internal sealed class ConnectionGuard(ConnectionGuardOptions options, TimeProvider time, ILogger logger)
{
    /// <summary>How often, at most, a listener that is shedding connections says so at warning level.</summary>
    private static readonly TimeSpan WarningInterval = TimeSpan.FromMinutes(1);

    private readonly Lock _lock = new();
    private readonly LinkedList<GuardedConnection> _unproven = new();
    private readonly Dictionary<IPAddress, LinkedList<GuardedConnection>> _unprovenBySource = [];
    private int _count;
    private long _lastWarning = long.MinValue;

    /// <summary>Connections counted now, proven or not.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _count;
            }
        }
    }

    /// <summary>
    /// Admits a connection from <paramref name="remote"/>, making room by closing an older unproven one if a limit is
    /// reached; null when there is no room (every connection in the way is proven or busy), and the caller closes it.
    /// <paramref name="abort"/> ends the connection, from any thread, with a reason for the logs.
    /// </summary>
    public GuardedConnection? TryAdmit(EndPoint? remote, Action<string> abort)
    {
        ArgumentNullException.ThrowIfNull(abort);
        var source = SourceAddress.Of(remote);
        var connection = new GuardedConnection(this, source, abort);
        GuardedConnection? sourceVictim = null;
        GuardedConnection? victim = null;
        lock (_lock)
        {
            // The per-source cap is fairness under pressure: below half the limit nobody is short of room, and one
            // agent's burst of raw-lane handshakes (hundreds at once, all unproven for a round trip) must not evict itself.
            if (source is not null
                && _count >= options.MaxConnections / 2
                && _unprovenBySource.TryGetValue(source, out var ofSource)
                && ofSource.Count >= options.MaxUnprovenPerSource)
            {
                sourceVictim = OldestIdle(ofSource);
                if (sourceVictim is null)
                {
                    return Refused(source, "source");
                }

                Uncount(sourceVictim);
            }

            if (_count >= options.MaxConnections)
            {
                victim = OldestIdle(_unproven);
                if (victim is null)
                {
                    return Refused(source, "full");
                }

                Uncount(victim);
            }

            connection.Counted = true;
            _count++;
            _unproven.AddLast(connection.All);
            if (source is not null)
            {
                if (!_unprovenBySource.TryGetValue(source, out var list))
                {
                    list = new LinkedList<GuardedConnection>();
                    _unprovenBySource.Add(source, list);
                }

                list.AddLast(connection.OfSource);
            }

            connection.Deadline = time.CreateTimer(static state => ((GuardedConnection)state!).DeadlineReached(), connection, options.ProveTimeout, Timeout.InfiniteTimeSpan);
        }

        if (sourceVictim is not null)
        {
            Evict(sourceVictim, "source", $"{options.MaxUnprovenPerSource} unproven connections from its address are open (Broker:Transport:MaxUnprovenPerSource)");
        }

        if (victim is not null)
        {
            Evict(victim, "full", $"the listener holds its limit of {options.MaxConnections} connections");
        }

        return connection;
    }

    internal void Prove(GuardedConnection connection)
    {
        lock (_lock)
        {
            if (connection.Proven || !connection.Counted)
            {
                return;
            }

            connection.Proven = true;
            RemoveUnproven(connection);
        }

        connection.Deadline?.Dispose();
    }

    internal void RequestStarted(GuardedConnection connection)
    {
        lock (_lock)
        {
            connection.InFlight++;
        }
    }

    internal void RequestEnded(GuardedConnection connection)
    {
        lock (_lock)
        {
            connection.InFlight--;
            if (!connection.DeadlinePassed || connection.Proven || !connection.Counted || connection.InFlight > 0)
            {
                return;
            }

            Uncount(connection);
        }

        CloseAtDeadline(connection);
    }

    internal void Release(GuardedConnection connection)
    {
        lock (_lock)
        {
            if (connection.Counted)
            {
                Uncount(connection);
            }
        }

        connection.Deadline?.Dispose();
    }

    /// <summary>The first deadline: close an unproven connection, unless a request is in flight (then a grace); the second: close.</summary>
    internal void DeadlineReached(GuardedConnection connection)
    {
        lock (_lock)
        {
            if (connection.Proven || !connection.Counted)
            {
                return;
            }

            if (connection.InFlight > 0 && !connection.DeadlinePassed)
            {
                connection.DeadlinePassed = true;
                connection.Deadline?.Change(options.RequestGrace, Timeout.InfiniteTimeSpan);
                return;
            }

            connection.DeadlinePassed = true;
            Uncount(connection);
        }

        CloseAtDeadline(connection);
    }

    private void CloseAtDeadline(GuardedConnection connection)
    {
        BrokerMetrics.ConnectionShed(options.Name, "prove_timeout");
        ConnectionGuardLog.ProveTimedOut(logger, options.Name, connection.Source?.ToString() ?? "(not IP)", options.ProveTimeout);
        connection.Abort($"it did not prove itself within {options.ProveTimeout.TotalSeconds:0.#} s (Broker:Transport:ProveTimeout)");
    }

    private void Evict(GuardedConnection connection, string reason, string why)
    {
        BrokerMetrics.ConnectionShed(options.Name, "evicted_" + reason);
        ConnectionGuardLog.Evicted(logger, options.Name, connection.Source?.ToString() ?? "(not IP)", why);
        WarnShedding(why);
        connection.Abort("evicted: " + why);
        connection.Deadline?.Dispose();
    }

    private GuardedConnection? Refused(IPAddress? source, string reason)
    {
        BrokerMetrics.ConnectionShed(options.Name, "refused_" + reason);
        var why = reason == "full"
            ? $"the listener holds its limit of {options.MaxConnections} connections, none of them evictable"
            : $"{options.MaxUnprovenPerSource} unproven connections from its address are busy (Broker:Transport:MaxUnprovenPerSource)";
        ConnectionGuardLog.Refused(logger, options.Name, source?.ToString() ?? "(not IP)", why);
        WarnShedding(why);
        return null;
    }

    /// <summary>One warning a minute at most: a flood must not flood the log as well.</summary>
    private void WarnShedding(string why)
    {
        var now = time.GetTimestamp();
        var last = Interlocked.Read(ref _lastWarning);
        if (last != long.MinValue && time.GetElapsedTime(last, now) < WarningInterval)
        {
            return;
        }

        if (Interlocked.CompareExchange(ref _lastWarning, now, last) == last)
        {
            ConnectionGuardLog.Shedding(logger, options.Name, why);
        }
    }

    /// <summary>The oldest connection of <paramref name="list"/> with no request in flight.</summary>
    private static GuardedConnection? OldestIdle(LinkedList<GuardedConnection> list)
    {
        for (var n = list.First; n is not null; n = n.Next)
        {
            if (n.Value.InFlight == 0)
            {
                return n.Value;
            }
        }

        return null;
    }

    private void Uncount(GuardedConnection connection)
    {
        connection.Counted = false;
        _count--;
        if (!connection.Proven)
        {
            RemoveUnproven(connection);
        }
    }

    private void RemoveUnproven(GuardedConnection connection)
    {
        if (connection.All.List is not null)
        {
            _unproven.Remove(connection.All);
        }

        if (connection.Source is not null && connection.OfSource.List is { } ofSource)
        {
            ofSource.Remove(connection.OfSource);
            if (ofSource.Count == 0)
            {
                _unprovenBySource.Remove(connection.Source);
            }
        }
    }
}
