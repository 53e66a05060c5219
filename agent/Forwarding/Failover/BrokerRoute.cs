using GitHubActionsPort.Protocol.V1;

namespace GitHubActionsPort.Agent.Forwarding.Failover;

/// <summary>
/// The brokers an agent may use, and which one it uses now. Every lease-bearing call (tunnels on either lane,
/// renewals, the watch, the close) goes to <see cref="Current"/>; when one says its broker is gone
/// (<see cref="BrokerGone"/>), <see cref="Fail"/> moves the route to the next broker, in the order given, that has
/// not failed lately. The move happens once per failure however many calls report it (they name the
/// <see cref="BrokerLink.Generation"/> they used), and is logged once. A broker that failed is skipped for a while,
/// longer after each failure (with jitter, at most <see cref="MaxSkip"/>), and used again after that: when every
/// broker is down the route still goes round them, one at a time.
/// </summary>
internal sealed partial class BrokerRoute : IDisposable
{
    /// <summary>How long a broker that just failed is skipped at first; doubled per failure in a row.</summary>
    internal static readonly TimeSpan FirstSkip = TimeSpan.FromSeconds(1);

    /// <summary>The longest a failed broker is skipped: a broker back from a restart is in use again within this.</summary>
    internal static readonly TimeSpan MaxSkip = TimeSpan.FromSeconds(30);

    /// <summary>The most brokers a route holds, names re-resolved included: a failover list, not a scan.</summary>
    internal const int MaxEndpoints = 64;

    /// <summary>How often the host names may be resolved again while every known broker is down.</summary>
    private static readonly TimeSpan ResolveAgainAfter = TimeSpan.FromSeconds(10);

    private readonly List<Slot> _slots;
    private readonly Func<BrokerEndpoint, (BrokerChannel? Channel, Broker.BrokerClient Client)> _connect;
    private readonly Func<CancellationToken, Task<IReadOnlyList<BrokerEndpoint>>>? _resolveAgain;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _disposed = new();
    private int _current;
    private long _generation;
    private bool _allDownSaid;
    private long _resolvedAt;
    private int _resolving;

    /// <param name="endpoints">The brokers, in the order to try them (see <see cref="BrokerAddresses"/>); at least one.</param>
    /// <param name="connect">Makes the channel and client for one broker, when it is first used.</param>
    /// <param name="time">The clock for how long a failed broker is skipped.</param>
    /// <param name="logger">Where the moves are said.</param>
    /// <param name="resolveAgain">
    /// Resolves the host names again (a name's addresses change as instances come and go); called when every known
    /// broker has failed, at most every few seconds. Null: the list is fixed.
    /// </param>
    public BrokerRoute(
        IReadOnlyList<BrokerEndpoint> endpoints,
        Func<BrokerEndpoint, (BrokerChannel? Channel, Broker.BrokerClient Client)> connect,
        TimeProvider time,
        ILogger logger,
        Func<CancellationToken, Task<IReadOnlyList<BrokerEndpoint>>>? resolveAgain = null)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentOutOfRangeException.ThrowIfZero(endpoints.Count, nameof(endpoints));
        _slots = endpoints.Take(MaxEndpoints).Select(e => new Slot(e)).ToList();
        _connect = connect;
        _resolveAgain = resolveAgain;
        _time = time;
        _logger = logger;
        _resolvedAt = time.GetTimestamp();
    }

    /// <summary>A route of one broker reached through <paramref name="client"/>: nothing to move to.</summary>
    public static BrokerRoute Single(Broker.BrokerClient client, Uri? broker, TimeProvider time, ILogger logger) =>
        new([new BrokerEndpoint(broker ?? new Uri("http://broker"), null)], _ => (null, client), time, logger);

    /// <summary>The broker to use now.</summary>
    public BrokerLink Current
    {
        get
        {
            lock (_gate)
            {
                return LinkTo(_current);
            }
        }
    }

    /// <summary>How many brokers the route knows now.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _slots.Count;
            }
        }
    }

    /// <summary>The brokers, in order, for <c>ghaport status</c>.</summary>
    public IReadOnlyList<BrokerEndpoint> Endpoints
    {
        get
        {
            lock (_gate)
            {
                return _slots.Select(s => s.Endpoint).ToList();
            }
        }
    }

    /// <summary>The broker at <paramref name="index"/>, for opening the session at each in turn.</summary>
    public BrokerLink At(int index)
    {
        lock (_gate)
        {
            return LinkTo(index);
        }
    }

    /// <summary>Makes <paramref name="link"/>'s broker the one in use (the session was opened there).</summary>
    public void Use(BrokerLink link)
    {
        ArgumentNullException.ThrowIfNull(link);
        lock (_gate)
        {
            if (_current != link.Index)
            {
                _current = link.Index;
                _generation++;
            }

            ResetUnder(_slots[link.Index]);
        }
    }

    /// <summary>
    /// <paramref name="link"/>'s broker answered a call: it is not down (any skip it had is forgotten).
    /// </summary>
    public void Succeeded(BrokerLink link)
    {
        ArgumentNullException.ThrowIfNull(link);
        lock (_gate)
        {
            ResetUnder(_slots[link.Index]);
            if (link.Index == _current)
            {
                _allDownSaid = false;
            }
        }
    }

    /// <summary>
    /// The broker of <paramref name="failed"/> is gone (<paramref name="cause"/>, as <see cref="BrokerGone.Cause"/> says):
    /// moves to the next broker, unless the route has moved since <paramref name="failed"/> was taken. True when
    /// <see cref="Current"/> is now a broker worth trying at once (a call may go again there); false when there is
    /// none (one broker only, or every broker failed lately), so the caller gives up or backs off.
    /// </summary>
    /// <param name="failed">The broker the failed call used.</param>
    /// <param name="cause">Why it failed, for the log.</param>
    /// <param name="leaseId">The lease the agent carries, for the log; null before there is one.</param>
    public bool Fail(BrokerLink failed, string cause, string? leaseId)
    {
        ArgumentNullException.ThrowIfNull(failed);
        lock (_gate)
        {
            var now = _time.GetTimestamp();
            if (failed.Generation != _generation)
            {
                // Another call has already moved the route: go again on the broker it moved to, if it is worth it.
                return _slots.Count > 1 && _slots[_current].DownUntil <= now;
            }

            var slot = _slots[failed.Index];
            slot.Failures++;
            var skip = Jittered(Min(FirstSkip * Math.Pow(2, Math.Min(slot.Failures - 1, 10)), MaxSkip));
            slot.DownUntil = now + (long)(skip.TotalSeconds * _time.TimestampFrequency);
            if (_slots.Count == 1)
            {
                // Nothing to move to, unless the name now points elsewhere too.
                ResolveAgainSoon();
                return false;
            }

            // The next in order that has not failed lately; when all have, still the next, so calls go round them.
            var next = -1;
            for (var step = 1; step < _slots.Count && next < 0; step++)
            {
                var candidate = (failed.Index + step) % _slots.Count;
                if (_slots[candidate].DownUntil <= now)
                {
                    next = candidate;
                }
            }

            var alive = next >= 0;
            _current = alive ? next : (failed.Index + 1) % _slots.Count;
            _generation++;
            if (alive)
            {
                _allDownSaid = false;
                Log.Switched(_logger, failed.Endpoint.Name, cause, _slots[_current].Endpoint.Name, leaseId ?? "(none yet)");
            }
            else
            {
                if (!_allDownSaid)
                {
                    _allDownSaid = true;
                    Log.AllDown(_logger, _slots.Count, failed.Endpoint.Name, cause);
                }

                ResolveAgainSoon();
            }

            return alive;
        }
    }

    /// <summary>
    /// The raw-lane port to dial at <paramref name="link"/>'s broker: the one that broker advertised when it last
    /// granted or renewed the lease, else the port <paramref name="lease"/> carries (the instances of one deployment
    /// listen on the same port). 0: no raw lane.
    /// </summary>
    public uint RawLanePort(BrokerLink link, Lease lease)
    {
        ArgumentNullException.ThrowIfNull(link);
        ArgumentNullException.ThrowIfNull(lease);
        lock (_gate)
        {
            return _slots[link.Index].RawLanePort ?? lease.RawLanePort;
        }
    }

    /// <summary>Remembers what <paramref name="link"/>'s broker said of itself when it granted or renewed <paramref name="lease"/>.</summary>
    public void Learned(BrokerLink link, Lease lease)
    {
        ArgumentNullException.ThrowIfNull(link);
        ArgumentNullException.ThrowIfNull(lease);
        lock (_gate)
        {
            _slots[link.Index].RawLanePort = lease.RawLanePort;
        }
    }

    public void Dispose()
    {
        _disposed.Cancel();
        lock (_gate)
        {
            foreach (var slot in _slots)
            {
                slot.Channel?.Dispose();
                slot.Channel = null;
            }
        }

        _disposed.Dispose();
    }

    /// <summary>±20 %, so agents that lost the same broker do not all come back to it in step.</summary>
    private static TimeSpan Jittered(TimeSpan delay) => delay * (0.8 + (0.4 * Random.Shared.NextDouble()));

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private static void ResetUnder(Slot slot)
    {
        slot.Failures = 0;
        slot.DownUntil = 0;
    }

    /// <summary>The link to the broker at <paramref name="index"/>, its channel made on first use. Under the gate.</summary>
    private BrokerLink LinkTo(int index)
    {
        var slot = _slots[index];
        if (slot.Client is null)
        {
            ObjectDisposedException.ThrowIf(_disposed.IsCancellationRequested, this);
            (slot.Channel, slot.Client) = _connect(slot.Endpoint);
        }

        return new BrokerLink(index, _generation, slot.Endpoint, slot.Channel, slot.Client);
    }

    /// <summary>Every broker is down: the names may point elsewhere now. Once at a time, and not too often. Under the gate.</summary>
    private void ResolveAgainSoon()
    {
        if (_resolveAgain is null || _disposed.IsCancellationRequested
            || _time.GetElapsedTime(_resolvedAt) < ResolveAgainAfter || Interlocked.Exchange(ref _resolving, 1) != 0)
        {
            return;
        }

        _resolvedAt = _time.GetTimestamp();
        var token = _disposed.Token;
        _ = Task.Run(async () =>
        {
            try
            {
                var found = await _resolveAgain(token).ConfigureAwait(false);
                lock (_gate)
                {
                    var added = 0;
                    foreach (var endpoint in found)
                    {
                        if (_slots.Count < MaxEndpoints && !_slots.Any(s => s.Endpoint == endpoint))
                        {
                            _slots.Add(new Slot(endpoint));
                            added++;
                        }
                    }

                    if (added > 0)
                    {
                        Log.Resolved(_logger, added, _slots.Count);
                    }
                }
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                Log.ResolveFailed(_logger, ex.Message);
            }
            finally
            {
                Volatile.Write(ref _resolving, 0);
            }
        }, CancellationToken.None);
    }

    /// <summary>One broker's state; guarded by the route's gate.</summary>
    private sealed class Slot(BrokerEndpoint endpoint)
    {
        public BrokerEndpoint Endpoint { get; } = endpoint;

        public BrokerChannel? Channel { get; set; }

        public Broker.BrokerClient? Client { get; set; }

        /// <summary>Failures in a row; a success resets it.</summary>
        public int Failures { get; set; }

        /// <summary>The timestamp until which it is skipped; 0 when it is not.</summary>
        public long DownUntil { get; set; }

        /// <summary>The raw-lane port this broker advertised, once it granted or renewed the lease.</summary>
        public uint? RawLanePort { get; set; }
    }
}
