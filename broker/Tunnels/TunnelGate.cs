using System.Collections.Concurrent;
using System.Net.Sockets;
using GitHubActionsPort.Broker.Audit;
using GitHubActionsPort.Broker.Auth;
using GitHubActionsPort.Broker.Configuration;
using GitHubActionsPort.Broker.Draining;
using GitHubActionsPort.Broker.Leases;
using GitHubActionsPort.Broker.Policy;
using GitHubActionsPort.Broker.Store;
using GitHubActionsPort.Broker.Telemetry;
using GitHubActionsPort.Protocol;
using GitHubActionsPort.Protocol.Tunnels;
using Grpc.Core;
using Lease = GitHubActionsPort.Broker.Leases.Lease;

namespace GitHubActionsPort.Broker.Tunnels;

/// <summary>
/// The one way into and out of a tunnel, whichever lane carries it: the lease must cover the target, the lease's
/// and the broker's caps must hold, the audit trail records the tunnel before its target is dialled (fail closed),
/// and the broker alone maps the name to an address. At the end the close is logged, measured and audited.
/// Refusals are gRPC statuses, the vocabulary both lanes answer in.
/// </summary>
internal sealed partial class TunnelGate(
    BrokerSettings settings,
    AccessPolicy policy,
    TargetDialer dialer,
    TunnelAdmission admission,
    AuditTrail audit,
    BrokerDrain drain,
    LeaseStore leases,
    IBrokerStore store,
    BrokerInstance instance,
    StoreHealth health,
    TimeProvider time,
    ILogger<TunnelGate> logger) : IStoreChangeListener
{
    /// <summary>
    /// Slots of tunnels that ended while the store was out of reach, by store id: given back when it returns, so a
    /// lease does not lose its places for good to an outage.
    /// </summary>
    private readonly ConcurrentDictionary<string, byte> _unreturned = new(StringComparer.Ordinal);

    /// <summary>
    /// Admits, records and dials a tunnel of <paramref name="lease"/> to <paramref name="targetName"/>; throws an
    /// <see cref="RpcException"/> with the refusal. <paramref name="callEnded"/> fires when the agent's side goes.
    /// </summary>
    public async Task<OpenedTunnel> OpenAsync(Lease lease, string targetName, string peer, string lane, CancellationToken callEnded)
    {
        // Only a name the lease covers, mapped by the broker's own configuration: never an address from the caller.
        if (!lease.Targets.Contains(targetName) || !policy.TryGetTarget(targetName, out var address))
        {
            Log.TunnelDenied(logger, lease.Id, AuditText.Clean(targetName));
            throw new RpcException(new Status(StatusCode.PermissionDenied, $"lease {lease.Id} does not cover target '{Truncate(targetName)}'"));
        }

        // A draining broker sends the agent to another instance, before the tunnel takes a place under any cap.
        if (!drain.TryEnterTunnel())
        {
            Log.TunnelRefusedDraining(logger, lease.Id, targetName);
            throw BrokerDraining.Refusal(BrokerDraining.TunnelDetail);
        }

        if (health.IsStale)
        {
            drain.ExitTunnel();
            throw new RpcException(new Status(StatusCode.Unavailable, health.StaleReason + "; try again later"));
        }

        var tunnelId = $"{lease.Id}/{lease.NextTunnelNumber()}";
        // Numbers restart with each instance (and each start): the store's id names the instance too.
        var slotId = $"{tunnelId}@{instance.Id}";
        try
        {
            await TakeSlotAsync(lease, slotId, tunnelId, targetName).ConfigureAwait(false);
        }
        catch
        {
            drain.ExitTunnel();
            throw;
        }

        if (!admission.TryEnter())
        {
            GiveBackSlot(slotId);
            drain.ExitTunnel();
            Log.BrokerTunnelLimitReached(logger, lease.Id, targetName, settings.Transport.MaxTunnels);
            throw new RpcException(new Status(StatusCode.ResourceExhausted, "the broker is at its limit of open tunnels; try again shortly"));
        }

        lease.TunnelOpened();
        void Release()
        {
            admission.Exit();
            lease.CloseTunnel();
            GiveBackSlot(slotId);
            drain.ExitTunnel();
        }

        var started = time.GetTimestamp();
        // The store's outage past MaxStaleness ends it too: this instance could no longer hear its lease revoked.
        var ends = CancellationTokenSource.CreateLinkedTokenSource(callEnded, lease.Ended, drain.Stopping, health.Stale);
        try
        {
            var target = await RecordAndDialAsync(lease, tunnelId, targetName, address, peer, lane, ends.Token).ConfigureAwait(false);
            Log.TunnelOpened(logger, tunnelId, targetName, peer);
            return new OpenedTunnel(tunnelId, targetName, lease, target, ends, started, Release);
        }
        catch (RpcException ex)
        {
            ends.Dispose();
            Release();
            if (ex.Data.Contains(AuditedKey))
            {
                await AuditBestEffortAsync(audit.TunnelClosedAsync(tunnelId, targetName, null, time.GetElapsedTime(started), ex.Status.Detail)).ConfigureAwait(false);
            }

            throw;
        }
        catch
        {
            ends.Dispose();
            Release();
            throw;
        }
    }

    /// <summary>
    /// Why the splice ended, as the status the agent's side is told (null for a clean end of both directions). A
    /// tunnel ended from the broker's side says why: lease expiry, revocation, the broker stopping (its drain over).
    /// </summary>
    public Status? Outcome(OpenedTunnel tunnel, SpliceResult result)
    {
        ArgumentNullException.ThrowIfNull(tunnel);
        ArgumentNullException.ThrowIfNull(result);
        return result.End switch
        {
            TunnelEnd.Completed => null,
            TunnelEnd.SocketFailed => new Status(StatusCode.Aborted, $"target '{tunnel.TargetName}' reset the connection"),
            TunnelEnd.StreamFailed when result.Error is InvalidDataException protocolError => new Status(StatusCode.InvalidArgument, protocolError.Message),
            // A frame over WireLimits.MaxMessageSize: gRPC refused it from its length prefix, and its status says so.
            TunnelEnd.StreamFailed when result.Error is RpcException { StatusCode: StatusCode.ResourceExhausted } tooLarge => tooLarge.Status,
            TunnelEnd.StreamFailed => new Status(StatusCode.Cancelled, "the agent's side of the tunnel failed"),
            _ => WhyEnded(tunnel.Lease) ?? new Status(StatusCode.Cancelled, "the tunnel was cancelled"),
        };
    }

    /// <summary>Logs, measures and audits the end of <paramref name="tunnel"/>; resets the target unless both directions ended cleanly.</summary>
    public async Task ClosedAsync(OpenedTunnel tunnel, SpliceResult result, Status? failure)
    {
        ArgumentNullException.ThrowIfNull(tunnel);
        ArgumentNullException.ThrowIfNull(result);
        if (result.End != TunnelEnd.Completed)
        {
            tunnel.Target.Abort();
        }

        var duration = time.GetElapsedTime(tunnel.Started);
        Log.TunnelClosed(logger, tunnel.Id, tunnel.TargetName, result.End, result.BytesToSocket, result.BytesFromSocket, duration.TotalMilliseconds);
        BrokerMetrics.TunnelEnded(duration);
        await AuditBestEffortAsync(audit.TunnelClosedAsync(tunnel.Id, tunnel.TargetName, result, duration, failure?.Detail ?? "completed")).ConfigureAwait(false);
    }

    /// <summary>
    /// The status for a tunnel ended from the broker's side; null when the agent's side itself went away. The broker's
    /// own reasons are asked first: cancelling a gRPC response write that waits on flow control (a client that stopped
    /// reading) aborts the request, so the call's own token is cancelled then too, and says nothing about who began it.
    /// </summary>
    public Status? WhyEnded(Lease lease)
    {
        ArgumentNullException.ThrowIfNull(lease);
        return lease.IsEndedForGood ? LeaseStore.EndedStatus(lease)
            : lease.IsEnded ? new Status(StatusCode.Aborted, lease.EndReason is { } reason ? $"lease {lease.Id} ended: {reason}" : $"lease {lease.Id} expired at {lease.ExpiresAt:u}; open a new session")
            : drain.Stopping.IsCancellationRequested ? new Status(StatusCode.Unavailable, "the broker is stopping")
            : health.IsStale ? new Status(StatusCode.Unavailable, health.StaleReason)
            : null;
    }

    /// <summary>Nothing to do on a change: slots are the store's to count.</summary>
    public Task OnChangeAsync(StoreChange change, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>The store is back (or the broker starting): gives back the slots that could not be given back while it was out of reach.</summary>
    public async Task ReloadAsync(CancellationToken cancellationToken)
    {
        foreach (var slotId in _unreturned.Keys.ToList())
        {
            await store.CloseTunnelAsync(slotId, cancellationToken).ConfigureAwait(false);
            _unreturned.TryRemove(slotId, out _);
        }
    }

    /// <summary>
    /// Takes one of the lease's slots, counted over every instance by the store; refuses when they are all taken, the
    /// lease ended (at any instance), or the store cannot be reached.
    /// </summary>
    private async Task TakeSlotAsync(Lease lease, string slotId, string tunnelId, string targetName)
    {
        try
        {
            if (await store.TryOpenTunnelAsync(new TunnelRecord(slotId, lease.Id, targetName, instance.Id, time.GetUtcNow()), lease.MaxConnections, CancellationToken.None).ConfigureAwait(false))
            {
                return;
            }

            // Full, or ended at another instance a moment ago (its change not read here yet): the store says which.
            await leases.RefreshAsync(lease).ConfigureAwait(false);
        }
        catch (StoreUnavailableException ex)
        {
            Log.TunnelStoreUnavailable(logger, tunnelId, targetName, StoreRefusal.Cause(ex));
            throw StoreRefusal.Exception(ex);
        }

        if (WhyEnded(lease) is { } ended && lease.IsEnded)
        {
            throw new RpcException(ended);
        }

        Log.TunnelLimitReached(logger, lease.Id, targetName, lease.MaxConnections);
        throw new RpcException(new Status(StatusCode.ResourceExhausted, $"lease {lease.Id} allows at most {lease.MaxConnections} open connections"));
    }

    /// <summary>Gives a slot back in the background (a tunnel's end does not wait on the store); kept for later when the store is out of reach.</summary>
    private void GiveBackSlot(string slotId)
    {
        _ = GiveBackSlotAsync(slotId);
    }

    private async Task GiveBackSlotAsync(string slotId)
    {
        try
        {
            await store.CloseTunnelAsync(slotId, CancellationToken.None).ConfigureAwait(false);
        }
        catch (StoreUnavailableException ex)
        {
            _unreturned.TryAdd(slotId, 0);
            Log.SlotNotReturned(logger, slotId, StoreRefusal.Cause(ex));
        }
        catch (Exception ex)
        {
            Log.SlotReturnFailed(logger, slotId, ex);
        }
    }

    /// <summary>Marks a refusal raised after the opening was audited, so its close is audited too.</summary>
    private const string AuditedKey = "ghaport-audited";

    private async Task<TunnelSocket> RecordAndDialAsync(
        Lease lease, string tunnelId, string targetName, Configuration.TargetAddress address, string peer, string lane, CancellationToken ends)
    {
        // Recorded before the target is dialled: a tunnel the audit trail cannot hold is not opened (fail closed).
        try
        {
            await audit.TunnelOpeningAsync(lease, tunnelId, targetName, peer, lane).ConfigureAwait(false);
        }
        catch (AuditWriteException ex)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, "the broker cannot record tunnels in its audit trail right now; refused"), ex.Message);
        }

        Socket socket;
        var dialStarted = time.GetTimestamp();
        try
        {
            socket = await dialer.ConnectAsync(address, ends).ConfigureAwait(false);
            BrokerMetrics.Dialled(time.GetElapsedTime(dialStarted), connected: true);
        }
        catch (TargetUnreachableException ex)
        {
            BrokerMetrics.Dialled(time.GetElapsedTime(dialStarted), connected: false);
            Log.TargetUnreachable(logger, tunnelId, targetName, address.ToString(), ex.Message);
            // A target the broker refuses on principle (a forbidden address) is not worth retrying; one that is down is.
            throw Audited(new RpcException(new Status(ex.Refused ? StatusCode.PermissionDenied : StatusCode.Unavailable, $"target '{targetName}' {ex.Message}")));
        }
        catch (OperationCanceledException) when (ends.IsCancellationRequested)
        {
            throw Audited(new RpcException(WhyEnded(lease) ?? new Status(StatusCode.Cancelled, "the tunnel was cancelled while its target was being connected")));
        }

        try
        {
            return new TunnelSocket(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static RpcException Audited(RpcException refusal)
    {
        refusal.Data[AuditedKey] = true;
        return refusal;
    }

    /// <summary>A close stands whether or not it is recorded; a failure to record it is logged (the trail's own error says why).</summary>
    private async Task AuditBestEffortAsync(Task write)
    {
        try
        {
            await write.ConfigureAwait(false);
        }
        catch (AuditWriteException ex)
        {
            Log.AuditSkipped(logger, ex.Message);
        }
    }

    private static string Truncate(string text) => text.Length <= 64 ? text : text[..64] + "...";

    private static partial class Log
    {
        [LoggerMessage(5, LogLevel.Information, "Tunnel {TunnelId} to {Target} opened from {Peer}", EventName = "TunnelOpened")]
        public static partial void TunnelOpened(ILogger logger, string tunnelId, string target, string peer);

        [LoggerMessage(6, LogLevel.Information, "Tunnel {TunnelId} to {Target} closed ({End}): {BytesToTarget} bytes to target, {BytesFromTarget} from it, {DurationMs:0} ms", EventName = "TunnelClosed")]
        public static partial void TunnelClosed(ILogger logger, string tunnelId, string target, TunnelEnd end, long bytesToTarget, long bytesFromTarget, double durationMs);

        [LoggerMessage(7, LogLevel.Warning, "Tunnel {TunnelId}: target {Target} ({Address}) {Reason}", EventName = "TargetUnreachable")]
        public static partial void TargetUnreachable(ILogger logger, string tunnelId, string target, string address, string reason);

        [LoggerMessage(8, LogLevel.Warning, "Lease {LeaseId}: tunnel to {Target} refused, {MaxConnections} already open", EventName = "TunnelLimitReached")]
        public static partial void TunnelLimitReached(ILogger logger, string leaseId, string target, int maxConnections);

        [LoggerMessage(9, LogLevel.Warning, "Lease {LeaseId}: tunnel to {Target} refused, the broker has {MaxTunnels} open (Broker:Transport:MaxTunnels)", EventName = "BrokerTunnelLimitReached")]
        public static partial void BrokerTunnelLimitReached(ILogger logger, string leaseId, string target, int maxTunnels);

        [LoggerMessage(14, LogLevel.Warning, "Lease {LeaseId}: tunnel to '{Target}' refused, the lease does not cover it", EventName = "TunnelDenied")]
        public static partial void TunnelDenied(ILogger logger, string leaseId, string target);

        [LoggerMessage(16, LogLevel.Debug, "Lease {LeaseId}: tunnel to {Target} refused, the broker is draining", EventName = "TunnelRefusedDraining")]
        public static partial void TunnelRefusedDraining(ILogger logger, string leaseId, string target);

        [LoggerMessage(15, LogLevel.Warning, "An audit record was not written: {Reason}", EventName = "AuditSkipped")]
        public static partial void AuditSkipped(ILogger logger, string reason);

        [LoggerMessage(16, LogLevel.Warning, "Tunnel {TunnelId} to {Target} refused: the state store is unreachable ({Cause})", EventName = "TunnelStoreUnavailable")]
        public static partial void TunnelStoreUnavailable(ILogger logger, string tunnelId, string target, string cause);

        [LoggerMessage(17, LogLevel.Warning, "Tunnel slot {SlotId} not given back yet: the state store is unreachable ({Cause}); it is given back when the store returns", EventName = "TunnelSlotNotReturned")]
        public static partial void SlotNotReturned(ILogger logger, string slotId, string cause);

        [LoggerMessage(18, LogLevel.Error, "Tunnel slot {SlotId} could not be given back", EventName = "TunnelSlotReturnFailed")]
        public static partial void SlotReturnFailed(ILogger logger, string slotId, Exception exception);
    }
}
