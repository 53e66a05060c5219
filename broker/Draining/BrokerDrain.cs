namespace GitHubActionsPort.Broker.Draining;

/// <summary>
/// Whether this broker is draining, and the tunnels it carries meanwhile. A stop (SIGTERM, a service stop,
/// <see cref="IHostApplicationLifetime.StopApplication"/>) begins the drain: from then on no session, tunnel or watch
/// is admitted, while the tunnels already open run on until they finish or the drain timeout passes
/// (<see cref="BrokerDrainService"/>); then <see cref="Stopping"/> ends the rest.
/// </summary>
/// <remarks>
/// Not disposable: its tokens are read until the last connection has ended, which may be after the container is
/// disposed, and a token source with no timer holds nothing that needs freeing.
/// </remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "Its tokens outlive the container; see remarks.")]
internal sealed class BrokerDrain
{
    private readonly CancellationTokenSource _draining = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly TaskCompletionSource _idle = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _open;
    private int _begun;

    /// <summary>True from the moment the drain begins: nothing new is admitted.</summary>
    public bool IsDraining => Volatile.Read(ref _begun) != 0;

    /// <summary>Fires when the drain begins (WatchSession calls are answered then, so agents hear at once).</summary>
    public CancellationToken Draining => _draining.Token;

    /// <summary>Fires when the drain ends: tunnels still open are ended ("the broker is stopping").</summary>
    public CancellationToken Stopping => _stopping.Token;

    /// <summary>Tunnels admitted and not yet ended (either lane).</summary>
    public int OpenTunnels => Math.Max(0, Volatile.Read(ref _open));

    /// <summary>Completes once the drain has begun and no tunnel is open.</summary>
    public Task Idle => _idle.Task;

    /// <summary>
    /// Counts a tunnel about to open; false (and nothing counted) once the drain has begun. Counted first and
    /// checked second, while <see cref="Begin"/> sets the flag first and reads the count second: whichever way the two
    /// race, a tunnel is either refused or counted by the drain that waits for it, never both missed.
    /// </summary>
    public bool TryEnterTunnel()
    {
        Interlocked.Increment(ref _open);
        if (!IsDraining)
        {
            return true;
        }

        ExitTunnel();
        return false;
    }

    /// <summary>Gives back a tunnel counted by <see cref="TryEnterTunnel"/>.</summary>
    public void ExitTunnel()
    {
        if (Interlocked.Decrement(ref _open) == 0 && IsDraining)
        {
            _idle.TrySetResult();
        }
    }

    /// <summary>Begins the drain; the tunnels open at that moment, or null when it had already begun.</summary>
    public int? Begin()
    {
        if (Interlocked.Exchange(ref _begun, 1) != 0)
        {
            return null;
        }

        var open = OpenTunnels;
        if (open == 0)
        {
            _idle.TrySetResult();
        }

        _draining.Cancel();
        return open;
    }

    /// <summary>Ends the drain: the tunnels still open are ended.</summary>
    public void EndTunnels() => _stopping.Cancel();
}
