namespace GitHubActionsPort.Broker.Connections;

/// <summary>
/// One connection a <see cref="ConnectionGuard"/> admitted: unproven (on its deadline, evictable) until
/// <see cref="Prove"/>; disposed when the connection ends. Kestrel connections carry it as a connection feature, so
/// a request on the connection can find it.
/// </summary>
internal sealed class GuardedConnection : IDisposable
{
    private readonly ConnectionGuard _guard;
    private readonly Action<string> _abort;

    internal GuardedConnection(ConnectionGuard guard, System.Net.IPAddress? source, Action<string> abort)
    {
        _guard = guard;
        Source = source;
        _abort = abort;
        All = new LinkedListNode<GuardedConnection>(this);
        OfSource = new LinkedListNode<GuardedConnection>(this);
    }

    /// <summary>Where it came from (<see cref="SourceAddress"/>); null when not over IP.</summary>
    internal System.Net.IPAddress? Source { get; }

    // The fields below are the guard's, read and written under its lock.
    internal LinkedListNode<GuardedConnection> All { get; }

    internal LinkedListNode<GuardedConnection> OfSource { get; }

    internal bool Proven { get; set; }

    /// <summary>Still counted against the guard's limits (false once ended, evicted or closed at its deadline).</summary>
    internal bool Counted { get; set; }

    internal int InFlight { get; set; }

    internal bool DeadlinePassed { get; set; }

    internal ITimer? Deadline { get; set; }

    /// <summary>The connection showed it is one of ours (a session granted, a lease proven): no deadline, never evicted.</summary>
    public void Prove() => _guard.Prove(this);

    /// <summary>A request arrived on the connection: while one is in flight its deadline waits (up to a grace).</summary>
    public void RequestStarted() => _guard.RequestStarted(this);

    public void RequestEnded() => _guard.RequestEnded(this);

    /// <summary>The connection ended.</summary>
    public void Dispose() => _guard.Release(this);

    internal void DeadlineReached() => _guard.DeadlineReached(this);

    /// <summary>Ends the connection; never throws (it may be ending already).</summary>
    internal void Abort(string reason)
    {
        try
        {
            _abort(reason);
        }
        catch (ObjectDisposedException)
        {
        }
    }
}
