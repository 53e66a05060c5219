using System.Security.Cryptography;
using GitHubActionsPort.Agent.Forwarding.Failover;
using GitHubActionsPort.Protocol;
using GitHubActionsPort.Protocol.RawLane;
using GitHubActionsPort.Protocol.V1;
using Grpc.Core;
using LeaseEnded = GitHubActionsPort.Protocol.LeaseEnded;

namespace GitHubActionsPort.Agent.Forwarding;

/// <summary>
/// Holds the session's lease and its key: signs each lease-bearing call, renews the lease before it runs out
/// (with a fresh id-token, when the token source can give one), opens a new session in its place when the broker
/// no longer knows it (the broker restarted), and ends <see cref="Ended"/> when it expires: expiry is final. A lease
/// the broker ended for good (revoked, blocked, no longer permitted) is never replaced: <see cref="Observe"/> ends it.
/// Its calls go to the broker its <see cref="Route"/> uses at the time: when that one is gone, renewals, the watch and
/// the close move to the next with the same lease and key. The session key lives in memory only; it is never written
/// anywhere.
/// </summary>
internal sealed partial class LeaseKeeper : IDisposable
{
    /// <summary>Renew once this share of the lease has passed, leaving room for retries before it ends.</summary>
    private const double RenewAtFraction = 2.0 / 3.0;

    /// <summary>
    /// The broker's words for a lease it does not hold (its LeaseStore): it restarted and lost its leases in memory,
    /// or the lease was closed or revoked. The same words for each, so the agent cannot tell which.
    /// </summary>

    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(10);

    /// <summary>The first pause between attempts to reopen a session; it doubles up to <see cref="MaxRetryDelay"/>.</summary>
    private static readonly TimeSpan FirstReopenDelay = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// A lease this close to its end is let go rather than reopened: the broker counts its time from before its
    /// answer travelled, so it forgets a lease a moment before the agent does, and that is expiry, not a loss.
    /// </summary>
    private static readonly TimeSpan ExpiryMargin = TimeSpan.FromSeconds(1);

    /// <summary>The broker grants at most 30 days; a timer cannot be asked for much more.</summary>
    private static readonly TimeSpan MaxLeaseTimer = TimeSpan.FromDays(30);

    private readonly BrokerRoute _route;
    private readonly ECDsa _sessionKey;
    private readonly byte[] _sessionPublicKey;
    private readonly Func<CancellationToken, Task<string>>? _freshIdToken;
    private readonly TimeSpan? _requestedTtl;
    private readonly IReadOnlyList<string> _targets;
    private readonly Uri? _broker;
    private readonly TimeSpan _sessionTimeout;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _ended = new();

    /// <summary>
    /// Ends a reopen in flight when the agent stops. It has no timer and holds nothing to release, so it is never
    /// disposed: a stop that comes after disposal still cannot throw at whoever cancelled it.
    /// </summary>
    private readonly CancellationTokenSource _closing = new();

    private readonly ITimer _expiry;

    /// <summary>Guards replacing the lease and the reopening state below.</summary>
    private readonly Lock _gate = new();

    private Lease _current;
    private long _expiresAtTimestamp;

    /// <summary>Completes when a reopen puts a new lease in place, so the renewal loop schedules from that one.</summary>
    private TaskCompletionSource _replaced = NewSignal();

    /// <summary>The reopen in flight, shared by every caller that found the lease lost; null when none is.</summary>
    private Task<string?>? _reopening;

    /// <summary>Set while a reopen waits out its backoff: a caller that just heard from the broker cuts the wait short.</summary>
    private TaskCompletionSource? _retryNow;

    private string? _lastReopenFailure;

    /// <summary>Why no session can replace the lost lease (no fresh id-token, or the broker refused); final once set.</summary>
    private string? _cannotReopen;

    /// <summary>The broker's words when it ended the lease for good (revoked, blocked, no longer permitted); final once set.</summary>
    private string? _endedForGood;

    private bool _closed;

    /// <summary>Set, under the gate, when the lease in force ran out: no renewal or reopen may replace it after that.</summary>
    private bool _expired;

    /// <summary>
    /// Keeps <paramref name="lease"/>, granted for <paramref name="sessionKey"/>. To reopen a lost session it asks
    /// again for <paramref name="targets"/> (by default the lease's own) and <paramref name="requestedTtl"/>, each
    /// attempt bounded by <paramref name="sessionTimeout"/> (default 30 s); <paramref name="broker"/> names the
    /// broker in messages.
    /// </summary>
    public LeaseKeeper(
        Broker.BrokerClient client,
        ECDsa sessionKey,
        Lease lease,
        Func<CancellationToken, Task<string>>? freshIdToken,
        TimeSpan? requestedTtl,
        TimeProvider time,
        ILogger logger,
        IEnumerable<string>? targets = null,
        Uri? broker = null,
        TimeSpan? sessionTimeout = null)
        : this(BrokerRoute.Single(client, broker, time, logger), sessionKey, lease, freshIdToken, requestedTtl, time, logger, targets, broker, sessionTimeout)
    {
    }

    /// <summary>
    /// As the constructor above, with the calls going to whichever broker <paramref name="route"/> uses at the time,
    /// so the lease follows the route when its broker goes away.
    /// </summary>
    public LeaseKeeper(
        BrokerRoute route,
        ECDsa sessionKey,
        Lease lease,
        Func<CancellationToken, Task<string>>? freshIdToken,
        TimeSpan? requestedTtl,
        TimeProvider time,
        ILogger logger,
        IEnumerable<string>? targets = null,
        Uri? broker = null,
        TimeSpan? sessionTimeout = null)
    {
        ArgumentNullException.ThrowIfNull(route);
        ArgumentNullException.ThrowIfNull(sessionKey);
        ArgumentNullException.ThrowIfNull(lease);
        _route = route;
        _sessionKey = sessionKey;
        _sessionPublicKey = sessionKey.ExportSubjectPublicKeyInfo();
        _current = lease;
        _freshIdToken = freshIdToken;
        _requestedTtl = requestedTtl;
        _targets = (targets ?? lease.Targets).Distinct(StringComparer.Ordinal).ToList();
        _broker = broker;
        _sessionTimeout = sessionTimeout ?? TimeSpan.FromSeconds(30);
        _time = time;
        _logger = logger;
        var ttl = TimeLeft(lease);
        _expiresAtTimestamp = time.GetTimestamp() + (long)(ttl.TotalSeconds * time.TimestampFrequency);
        _expiry = time.CreateTimer(_ => OnExpiryDue(), null, ttl, Timeout.InfiniteTimeSpan);
    }

    public Lease Current => Volatile.Read(ref _current);

    /// <summary>The brokers this lease may be used through, and the one in use.</summary>
    public BrokerRoute Route => _route;

    /// <summary>Fires when the lease runs out without a renewal, or the broker ends it for good.</summary>
    public CancellationToken Ended => _ended.Token;

    /// <summary>
    /// The broker's words when it ended the lease for good — revoked, blocked, or no longer permitted by its policy —
    /// so no new session is opened; null otherwise.
    /// </summary>
    public string? EndedForGood => Volatile.Read(ref _endedForGood);

    /// <summary>Why <see cref="Ended"/> fired: the broker's words for a lease ended for good, else its expiry.</summary>
    public string EndReason => EndedForGood ?? $"lease {Current.LeaseId} expired at {Current.ExpiresAt.ToDateTimeOffset():u}";

    /// <summary>
    /// Looks at a status the broker answered a lease-bearing call with: when it says the lease was ended for good
    /// (see <see cref="LeaseEnded"/>), that is final — no new session, and <see cref="Ended"/> fires so the forwards
    /// stop. True when it said so.
    /// </summary>
    public bool Observe(Status status)
    {
        if (!LeaseEnded.TryRead(status, out var kind))
        {
            return false;
        }

        lock (_gate)
        {
            if (_endedForGood is not null)
            {
                return true;
            }

            Volatile.Write(ref _endedForGood, status.Detail);
            _cannotReopen = status.Detail;
        }

        Log.EndedForGood(_logger, Current.LeaseId, kind, status.Detail);
        try
        {
            _ended.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Stopped already: nothing is left to end.
        }

        return true;
    }

    /// <summary>
    /// Whether the broker refused a lease-bearing call because it does not hold the lease: it restarted, or the
    /// lease was closed or revoked. Not expiry, which the agent's own timer tells.
    /// </summary>
    public static bool IsLeaseUnknown(Status status) =>
        status.StatusCode == StatusCode.Unauthenticated && status.Detail.StartsWith(WireLimits.LeaseUnknownDetail, StringComparison.Ordinal);

    /// <summary>Request headers of a lease-bearing call: the lease token and a fresh proof of the session key.</summary>
    public Metadata Headers(string method, string target) => Sign(Current, method, target);

    /// <summary>As <see cref="Headers(string, string)"/>, also saying which lease they carry: the one to name to <see cref="RecoverAsync"/>.</summary>
    public Metadata Headers(string method, string target, out Lease signedFor)
    {
        signedFor = Current;
        return Sign(signedFor, method, target);
    }

    /// <summary>
    /// A raw-lane Hello for the current lease: its token and a fresh proof of the session key, and which lease it
    /// carries (the one to name to <see cref="RecoverAsync"/>).
    /// </summary>
    public RawLaneHello Hello(out Lease signedFor)
    {
        signedFor = Current;
        return new RawLaneHello(signedFor.Token, LeaseProof.Create(_sessionKey, RawLaneFrame.HelloMethod, signedFor.LeaseId, string.Empty, _time.GetUtcNow()));
    }

    /// <summary>Ends the lease at the broker now (on stop): its tunnels end at once instead of at expiry.</summary>
    public async Task CloseAsync(TimeSpan timeout)
    {
        Task? reopening;
        lock (_gate)
        {
            _closed = true;
            reopening = _reopening;
        }

        _closing.Cancel();
        if (reopening is not null)
        {
            // Let a cancelled reopen finish first, so the lease closed below is the last one there will be.
            await Task.WhenAny(reopening, Task.Delay(timeout, _time, CancellationToken.None)).ConfigureAwait(false);
        }

        if (_ended.IsCancellationRequested)
        {
            return;
        }

        var lease = Current;
        var deadline = DateTime.UtcNow + timeout;

        // Closed at one broker is closed at all that share its store; a broker that is gone passes it to the next.
        for (var tries = _route.Count; ; tries--)
        {
            var link = _route.Current;
            try
            {
                await link.Client.CloseSessionAsync(new CloseSessionRequest(), Sign(lease, nameof(Broker.BrokerClient.CloseSession), string.Empty), deadline).ConfigureAwait(false);
                Log.Closed(_logger, lease.LeaseId);
                return;
            }
            catch (RpcException ex) when (IsLeaseUnknown(ex.Status) || Observe(ex.Status))
            {
                Log.AlreadyEnded(_logger, lease.LeaseId);
                return;
            }
            catch (RpcException ex) when (tries > 1 && DateTime.UtcNow < deadline && BrokerGone.Cause(ex.Status) is { } cause && _route.Fail(link, cause, lease.LeaseId))
            {
                // Try the broker the route moved to.
            }
            catch (RpcException ex)
            {
                Log.CloseFailed(_logger, lease.LeaseId, RpcErrors.Describe(ex.Status));
                return;
            }
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _closed = true;
        }

        _closing.Cancel();
        _expiry.Dispose();
        _ended.Dispose();
        _sessionKey.Dispose();
    }

    private TimeSpan Remaining => _time.GetElapsedTime(_time.GetTimestamp(), Volatile.Read(ref _expiresAtTimestamp)) is var left && left > TimeSpan.Zero ? left : TimeSpan.Zero;

    private Metadata Sign(Lease lease, string method, string target) =>
    [
        new Metadata.Entry("authorization", $"{WireLimits.LeaseScheme} {lease.Token}"),
        new Metadata.Entry(LeaseProof.Header, LeaseProof.Create(_sessionKey, method, lease.LeaseId, target, _time.GetUtcNow())),
    ];

    /// <summary>
    /// The expiry timer's callback. A timer that is due queues its callback, and a busy thread pool may run it well
    /// after a renewal or a reopen moved the end: so it ends the lease only if the lease in force has run out, decided
    /// under the gate, and otherwise waits for the new end.
    /// </summary>
    private void OnExpiryDue()
    {
        lock (_gate)
        {
            if (Remaining > TimeSpan.Zero)
            {
                try
                {
                    _expiry.Change(Remaining, Timeout.InfiniteTimeSpan);
                }
                catch (ObjectDisposedException)
                {
                    // Stopped meanwhile.
                }

                return;
            }

            _expired = true;
        }

        try
        {
            _ended.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Stopped meanwhile: nothing is left to end.
        }
    }

    /// <summary>Makes <paramref name="lease"/> current, its expiry counted from now. Under the gate.</summary>
    private void Install(Lease lease)
    {
        var left = TimeLeft(lease);
        Volatile.Write(ref _current, lease);
        Volatile.Write(ref _expiresAtTimestamp, _time.GetTimestamp() + (long)(left.TotalSeconds * _time.TimestampFrequency));
        _expiry.Change(left, Timeout.InfiniteTimeSpan);
    }

    private string WhyStopped(Lease lost) => EndedForGood ?? (_ended.IsCancellationRequested ? $"lease {lost.LeaseId} expired" : "the agent is stopping");

    /// <summary>Time left by the broker's count, not by comparing its clock with ours.</summary>
    private static TimeSpan TimeLeft(Lease lease)
    {
        var ttl = lease.Ttl?.ToTimeSpan() ?? TimeSpan.Zero;
        return ttl <= TimeSpan.Zero ? TimeSpan.Zero : Min(ttl, MaxLeaseTimer);
    }

    /// <summary>±20 %, so agents that lost the same broker do not all come back to it in step.</summary>
    private static TimeSpan Jittered(TimeSpan delay) => delay * (0.8 + (0.4 * Random.Shared.NextDouble()));

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    /// <summary>The lease in force and the signal that completes when a reopen replaces it, read together.</summary>
    private (Lease Lease, Task Replaced) CurrentAndNextSignal()
    {
        lock (_gate)
        {
            return (_current, _replaced.Task);
        }
    }
}
