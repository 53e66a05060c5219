using System.Collections.Concurrent;
using System.Diagnostics;
using GitHubActionsPort.Agent.Forwarding.Failover;
using GitHubActionsPort.Protocol.Tunnels;

namespace GitHubActionsPort.Agent.Forwarding.RawLane;

/// <summary>
/// A few raw-lane connections kept authenticated and idle, so a new tunnel costs one round trip (its Open) rather
/// than a TCP handshake, a TLS handshake and a Hello first. Taking one starts a refill in the background. A warm
/// connection is used only while young (the broker closes idle ones after its idle timeout), only for the lease
/// it was authenticated for, and only while its broker is the one the route uses.
/// </summary>
internal sealed partial class RawLanePool(RawLaneDialer dialer, LeaseKeeper lease, ILogger logger) : IAsyncDisposable
{
    /// <summary>Enough for a burst of two new connections without a handshake; each costs the broker one idle socket.</summary>
    internal const int WarmCount = 2;

    /// <summary>Well inside the broker's default idle timeout (two minutes), so a warm connection is still open when used.</summary>
    private static readonly TimeSpan MaxWarmAge = TimeSpan.FromSeconds(60);

    private readonly ConcurrentQueue<Warm> _warm = new();
    private readonly CancellationTokenSource _disposed = new();
    private int _refilling;

    /// <summary>
    /// An authenticated connection to <paramref name="broker"/> for the current lease: a warm one when there is one
    /// (then <c>WasWarm</c>), else one dialled now. Throws as <see cref="RawLaneDialer.DialAsync"/> does.
    /// </summary>
    public async Task<(TunnelSocket Connection, Protocol.V1.Lease Lease, bool WasWarm)> TakeAsync(BrokerLink broker, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(broker);
        try
        {
            while (_warm.TryDequeue(out var warm))
            {
                if (warm.Lease.LeaseId == lease.Current.LeaseId && warm.Broker.Index == broker.Index && Stopwatch.GetElapsedTime(warm.Since) < MaxWarmAge)
                {
                    return (warm.Connection, warm.Lease, true);
                }

                await warm.Connection.DisposeAsync().ConfigureAwait(false);
            }

            var (connection, signedFor) = await dialer.DialAsync(broker, cancellationToken).ConfigureAwait(false);
            return (connection, signedFor, false);
        }
        finally
        {
            Refill();
        }
    }

    /// <summary>Dials a fresh connection, never a warm one (after a warm one turned out closed).</summary>
    public async Task<(TunnelSocket Connection, Protocol.V1.Lease Lease)> DialAsync(BrokerLink broker, CancellationToken cancellationToken) =>
        await dialer.DialAsync(broker, cancellationToken).ConfigureAwait(false);

    /// <summary>Tops the pool up to <see cref="WarmCount"/>, one refill at a time; a failure leaves it for the next take.</summary>
    private void Refill()
    {
        var broker = lease.Route.Current;
        if (_disposed.IsCancellationRequested || _warm.Count >= WarmCount || lease.Route.RawLanePort(broker, lease.Current) == 0
            || Interlocked.CompareExchange(ref _refilling, 1, 0) != 0)
        {
            return;
        }

        _ = Task.Run(async () =>
        {
            try
            {
                while (_warm.Count < WarmCount && !_disposed.IsCancellationRequested)
                {
                    var (connection, signedFor) = await dialer.DialAsync(broker, _disposed.Token).ConfigureAwait(false);
                    _warm.Enqueue(new Warm(connection, signedFor, broker, Stopwatch.GetTimestamp()));
                }
            }
            catch (Exception ex)
            {
                // A Hello refused because the lease was ended for good is news the keeper acts on.
                if (ex is not Grpc.Core.RpcException refused || !lease.Observe(refused.Status))
                {
                    Log.RefillFailed(logger, ex.Message);
                }
            }
            finally
            {
                Volatile.Write(ref _refilling, 0);
                if (_disposed.IsCancellationRequested)
                {
                    await DrainAsync().ConfigureAwait(false);
                }
            }
        });
    }

    public async ValueTask DisposeAsync()
    {
        await _disposed.CancelAsync().ConfigureAwait(false);
        await DrainAsync().ConfigureAwait(false);
    }

    private async Task DrainAsync()
    {
        while (_warm.TryDequeue(out var warm))
        {
            await warm.Connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    private sealed record Warm(TunnelSocket Connection, Protocol.V1.Lease Lease, BrokerLink Broker, long Since);

    private static partial class Log
    {
        [LoggerMessage(40, LogLevel.Debug, "Could not warm a raw-lane connection: {Reason}", EventName = "RawLaneWarmFailed")]
        public static partial void RefillFailed(ILogger logger, string reason);
    }
}
