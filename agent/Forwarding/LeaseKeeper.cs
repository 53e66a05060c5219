using System.Security.Cryptography;
using GitHubActionsPort.Agent.Cli;
using GitHubActionsPort.Protocol;
using GitHubActionsPort.Protocol.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;

namespace GitHubActionsPort.Agent.Forwarding;

/// <summary>
/// Holds the session's lease and its key: signs each lease-bearing call, renews the lease before it runs out
/// (with a fresh id-token, when the token source can give one), opens a new session in its place when the broker
/// no longer knows it (the broker restarted), and ends <see cref="Ended"/> when it expires: expiry is final.
/// The session key lives in memory only; it is never written anywhere.
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

    private readonly Broker.BrokerClient _client;
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

    private bool _closed;

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
    {
        ArgumentNullException.ThrowIfNull(sessionKey);
        ArgumentNullException.ThrowIfNull(lease);
        _client = client;
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
        _expiry = time.CreateTimer(_ => _ended.Cancel(), null, ttl, Timeout.InfiniteTimeSpan);
    }

    public Lease Current => Volatile.Read(ref _current);

    /// <summary>Fires when the lease runs out without a renewal.</summary>
    public CancellationToken Ended => _ended.Token;

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
    /// For a lease-bearing call the broker refused because it does not know <paramref name="lost"/>: opens a new
    /// session in its place (one attempt, with backoff, shared by every caller) and waits up to
    /// <paramref name="wait"/> for it. Null when <see cref="Current"/> now holds a lease to call again with; else
    /// why not, for the caller to report. Throws <see cref="OperationCanceledException"/> when cancelled.
    /// </summary>
    public async Task<string?> RecoverAsync(Lease lost, TimeSpan wait, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lost);
        Task<string?> reopening;
        lock (_gate)
        {
            if (_current.LeaseId != lost.LeaseId)
            {
                // Another caller's reopen has already replaced it.
                return null;
            }

            if (_cannotReopen is { } final)
            {
                return final;
            }

            if (_closed)
            {
                return "the agent is stopping";
            }

            if (_ended.IsCancellationRequested || Remaining < ExpiryMargin)
            {
                return $"lease {lost.LeaseId} expired";
            }

            if (_reopening is null)
            {
                if (_freshIdToken is not { } freshIdToken)
                {
                    _cannotReopen = $"lease {lost.LeaseId} is no longer known to the broker, and without a fresh id-token (this one came from a file or variable) no new session can be opened";
                    Log.CannotReopen(_logger, lost.LeaseId);
                    return _cannotReopen;
                }

                Log.LeaseLost(_logger, lost.LeaseId);

                // Made here, under the gate, so a Dispose cannot slip in between the check above and its use.
                var stop = CancellationTokenSource.CreateLinkedTokenSource(_ended.Token, _closing.Token);
                _reopening = Task.Run(() => ReopenAsync(lost, freshIdToken, stop), CancellationToken.None);
            }
            else
            {
                // This caller has just heard from the broker: a reopen waiting out its backoff may try at once.
                _retryNow?.TrySetResult();
            }

            reopening = _reopening;
        }

        try
        {
            return await reopening.WaitAsync(wait, _time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return $"a new session is being opened, and the broker has not granted it yet ({Volatile.Read(ref _lastReopenFailure) ?? "no answer yet"})";
        }
    }

    /// <summary>
    /// Renews before expiry until stopped or the lease ends. A refused renewal ends renewing that lease; a lease the
    /// broker lost is replaced by a new session, which is then renewed in turn. Stopping also ends any reopen.
    /// </summary>
    public async Task KeepRenewingAsync(CancellationToken stopping)
    {
        if (_freshIdToken is null)
        {
            Log.CannotRenew(_logger, Current.LeaseId, Current.ExpiresAt.ToDateTimeOffset());
            return;
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(stopping, Ended);

        // New sessions only serve tunnels, and tunnels end with the same token.
        using var endReopening = stopping.Register(() =>
        {
            lock (_gate)
            {
                _closed = true;
            }

            _closing.Cancel();
        });

        string? doneWith = null;
        TimeSpan? retryIn = null;
        try
        {
            while (true)
            {
                Lease lease;
                Task replaced;
                lock (_gate)
                {
                    lease = _current;
                    replaced = _replaced.Task;
                }

                TimeSpan? delay = null;
                if (lease.LeaseId == doneWith)
                {
                    // Nothing more to do for this lease; a new session (after a broker restart) starts afresh.
                }
                else if (lease is { MaxExpiresAt: { } max } && lease.ExpiresAt.ToDateTimeOffset() >= max.ToDateTimeOffset())
                {
                    // Past its maximum life no renewal can help: say so once instead of asking to be refused.
                    Log.AtMaximumLife(_logger, lease.LeaseId, lease.ExpiresAt.ToDateTimeOffset());
                    doneWith = lease.LeaseId;
                }
                else
                {
                    delay = retryIn ?? Remaining * RenewAtFraction;
                }

                retryIn = null;
                if (!await WaitForRenewalAsync(delay, replaced, stop.Token).ConfigureAwait(false))
                {
                    continue;
                }

                try
                {
                    if (!await RenewOnceAsync(lease, stop.Token).ConfigureAwait(false))
                    {
                        doneWith = lease.LeaseId;
                    }
                }
                catch (RpcException ex) when (IsLeaseUnknown(ex.Status))
                {
                    // The broker lost it (restarted): a new session takes its place, and its own schedule with it.
                    if (await RecoverAsync(lease, Timeout.InfiniteTimeSpan, stop.Token).ConfigureAwait(false) is not null)
                    {
                        doneWith = lease.LeaseId;
                    }
                }
                catch (Exception ex) when (!stop.IsCancellationRequested && ex is RpcException or AgentException or HttpRequestException)
                {
                    // Broker or token endpoint briefly unreachable: try again well before the lease runs out.
                    retryIn = Min(MaxRetryDelay, Remaining / 4);
                    Log.RenewalRetry(_logger, lease.LeaseId, ex.Message, retryIn.Value.TotalSeconds);
                }
            }
        }
        catch (Exception ex) when (stop.IsCancellationRequested && ex is OperationCanceledException or RpcException)
        {
            // Stopped, or the lease ended.
        }
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
        try
        {
            await _client.CloseSessionAsync(new CloseSessionRequest(), Sign(lease, nameof(Broker.BrokerClient.CloseSession), string.Empty), DateTime.UtcNow + timeout).ConfigureAwait(false);
            Log.Closed(_logger, lease.LeaseId);
        }
        catch (RpcException ex) when (IsLeaseUnknown(ex.Status))
        {
            Log.AlreadyEnded(_logger, lease.LeaseId);
        }
        catch (RpcException ex)
        {
            Log.CloseFailed(_logger, lease.LeaseId, RpcErrors.Describe(ex.Status));
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
    /// Waits <paramref name="delay"/> (forever when null) and says true, or says false as soon as a reopen replaces
    /// the lease, whose schedule then starts over.
    /// </summary>
    private async Task<bool> WaitForRenewalAsync(TimeSpan? delay, Task replaced, CancellationToken cancellationToken)
    {
        if (delay is not { } due)
        {
            await replaced.WaitAsync(cancellationToken).ConfigureAwait(false);
            return false;
        }

        using var waitEnds = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var elapsed = Task.Delay(due, _time, waitEnds.Token);
        var first = await Task.WhenAny(elapsed, replaced).ConfigureAwait(false);
        await waitEnds.CancelAsync().ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        return first == elapsed;
    }

    /// <summary>One renewal of <paramref name="lease"/>: false when the broker refused and renewing it is over.</summary>
    private async Task<bool> RenewOnceAsync(Lease lease, CancellationToken cancellationToken)
    {
        var idToken = await _freshIdToken!(cancellationToken).ConfigureAwait(false);
        var request = new RenewSessionRequest { IdToken = idToken };
        if (_requestedTtl is { } ttl)
        {
            request.Ttl = Duration.FromTimeSpan(ttl);
        }

        OpenSessionResponse response;
        try
        {
            response = await _client.RenewSessionAsync(request, Sign(lease, nameof(Broker.BrokerClient.RenewSession), string.Empty), DateTime.UtcNow + _sessionTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (RpcException ex) when (ex.StatusCode is StatusCode.PermissionDenied or StatusCode.FailedPrecondition or StatusCode.Unauthenticated && !IsLeaseUnknown(ex.Status))
        {
            Log.RenewalRefused(_logger, lease.LeaseId, RpcErrors.Describe(ex.Status), lease.ExpiresAt.ToDateTimeOffset());
            return false;
        }

        var renewed = response.Lease ?? throw new AgentException(ExitCodes.Failure, "the broker renewed the session without a lease");
        lock (_gate)
        {
            // A reopen may have put another session in place meanwhile; this renewal was of the one before.
            if (_closed || _current.LeaseId != renewed.LeaseId)
            {
                return true;
            }

            Install(renewed);
        }

        Log.Renewed(_logger, renewed.LeaseId, renewed.ExpiresAt.ToDateTimeOffset());
        return true;
    }

    /// <summary>
    /// Opens a new session for the same targets with the same session key, retrying with backoff while the broker
    /// (or the token endpoint) is unreachable, until it is granted, refused, the old lease expires or the agent
    /// stops. Null when granted; else why not.
    /// </summary>
    private async Task<string?> ReopenAsync(Lease lost, Func<CancellationToken, Task<string>> freshIdToken, CancellationTokenSource stop)
    {
        var delay = FirstReopenDelay;
        try
        {
            while (true)
            {
                string failure;
                try
                {
                    var idToken = await freshIdToken(stop.Token).ConfigureAwait(false);
                    var lease = await SessionOpener.OpenAsync(_client, _broker, idToken, _sessionPublicKey, _targets, _requestedTtl, _sessionTimeout, stop.Token).ConfigureAwait(false);
                    if (!TryReplace(lost, lease))
                    {
                        return WhyStopped(lost);
                    }

                    Log.SessionReopened(_logger, lease.LeaseId, lease.ExpiresAt.ToDateTimeOffset(), lost.LeaseId);
                    return null;
                }
                catch (AgentException ex) when (!stop.IsCancellationRequested && ex.ExitCode is ExitCodes.TokenRejected or ExitCodes.TargetDenied or ExitCodes.Usage)
                {
                    // The broker answered, and no retry changes its answer (its policy may have changed meanwhile).
                    var reason = $"no new session could replace lease {lost.LeaseId}: {ex.Message}";
                    lock (_gate)
                    {
                        _cannotReopen = reason;
                    }

                    Log.ReopenRefused(_logger, lost.LeaseId, ex.Message);
                    return reason;
                }
                catch (Exception ex) when (!stop.IsCancellationRequested && ex is AgentException or RpcException or HttpRequestException)
                {
                    failure = ex.Message;
                }

                Volatile.Write(ref _lastReopenFailure, failure);
                var wait = Jittered(delay);
                Log.ReopenRetry(_logger, lost.LeaseId, failure, wait.TotalSeconds);
                await WaitToRetryAsync(wait, stop.Token).ConfigureAwait(false);
                delay = Min(delay * 2, MaxRetryDelay);
            }
        }
        catch (Exception ex) when (stop.IsCancellationRequested && ex is OperationCanceledException or RpcException or AgentException)
        {
            return WhyStopped(lost);
        }
        finally
        {
            lock (_gate)
            {
                _reopening = null;
                _retryNow = null;
            }

            stop.Dispose();
        }
    }

    /// <summary>Waits out one backoff, cut short when a caller asks again, but never to less than the first delay.</summary>
    private async Task WaitToRetryAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        var retryNow = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            _retryNow = retryNow;
        }

        var started = _time.GetTimestamp();
        using (var waitEnds = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            await Task.WhenAny(Task.Delay(delay, _time, waitEnds.Token), retryNow.Task).ConfigureAwait(false);
            await waitEnds.CancelAsync().ConfigureAwait(false);
        }

        lock (_gate)
        {
            _retryNow = null;
        }

        // A burst of new connections must not become a burst of session requests.
        var floor = FirstReopenDelay - _time.GetElapsedTime(started);
        if (floor > TimeSpan.Zero)
        {
            await Task.Delay(floor, _time, cancellationToken).ConfigureAwait(false);
        }

        cancellationToken.ThrowIfCancellationRequested();
    }

    private bool TryReplace(Lease lost, Lease lease)
    {
        lock (_gate)
        {
            if (_closed || _ended.IsCancellationRequested || _current.LeaseId != lost.LeaseId)
            {
                return false;
            }

            Install(lease);
            var replaced = _replaced;
            _replaced = NewSignal();
            replaced.TrySetResult();
            return true;
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

    private string WhyStopped(Lease lost) => _ended.IsCancellationRequested ? $"lease {lost.LeaseId} expired" : "the agent is stopping";

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

    private static partial class Log
    {
        [LoggerMessage(40, LogLevel.Information, "Lease {LeaseId} renewed until {ExpiresAt:u}", EventName = "LeaseRenewed")]
        public static partial void Renewed(ILogger logger, string leaseId, DateTimeOffset expiresAt);

        [LoggerMessage(41, LogLevel.Warning, "Lease {LeaseId} was not renewed: {Reason}; its connections end at {ExpiresAt:u}", EventName = "LeaseRenewalRefused")]
        public static partial void RenewalRefused(ILogger logger, string leaseId, string reason, DateTimeOffset expiresAt);

        [LoggerMessage(42, LogLevel.Warning, "Renewing lease {LeaseId} failed ({Reason}); retrying in {DelaySeconds:0.#} s", EventName = "LeaseRenewalRetry")]
        public static partial void RenewalRetry(ILogger logger, string leaseId, string reason, double delaySeconds);

        [LoggerMessage(43, LogLevel.Warning, "The id-token came from a file or variable, so lease {LeaseId} cannot be renewed; it ends at {ExpiresAt:u}", EventName = "LeaseCannotRenew")]
        public static partial void CannotRenew(ILogger logger, string leaseId, DateTimeOffset expiresAt);

        [LoggerMessage(46, LogLevel.Warning, "Lease {LeaseId} has reached its maximum life and ends at {ExpiresAt:u}; after that, open a new session", EventName = "LeaseAtMaximumLife")]
        public static partial void AtMaximumLife(ILogger logger, string leaseId, DateTimeOffset expiresAt);

        [LoggerMessage(44, LogLevel.Information, "Lease {LeaseId} closed at the broker", EventName = "LeaseClosed")]
        public static partial void Closed(ILogger logger, string leaseId);

        [LoggerMessage(45, LogLevel.Warning, "Closing lease {LeaseId} at the broker failed ({Reason}); it lapses at expiry", EventName = "LeaseCloseFailed")]
        public static partial void CloseFailed(ILogger logger, string leaseId, string reason);

        [LoggerMessage(47, LogLevel.Warning, "Lease {LeaseId} is no longer known to the broker (it restarted, or the lease was ended there); opening a new session", EventName = "LeaseLost")]
        public static partial void LeaseLost(ILogger logger, string leaseId);

        [LoggerMessage(48, LogLevel.Information, "Session reopened: lease {LeaseId} until {ExpiresAt:u} replaces lease {LostLeaseId}", EventName = "SessionReopened")]
        public static partial void SessionReopened(ILogger logger, string leaseId, DateTimeOffset expiresAt, string lostLeaseId);

        [LoggerMessage(49, LogLevel.Warning, "Opening a new session in place of lease {LeaseId} failed ({Reason}); retrying in {DelaySeconds:0.#} s", EventName = "SessionReopenRetry")]
        public static partial void ReopenRetry(ILogger logger, string leaseId, string reason, double delaySeconds);

        [LoggerMessage(50, LogLevel.Error, "No new session can replace lease {LeaseId}: {Reason}; new connections are refused", EventName = "SessionReopenRefused")]
        public static partial void ReopenRefused(ILogger logger, string leaseId, string reason);

        [LoggerMessage(51, LogLevel.Error, "Lease {LeaseId} is no longer known to the broker, and the id-token came from a file or variable, so no new session can be opened; new connections are refused until ghaport is started again with a fresh id-token", EventName = "SessionCannotReopen")]
        public static partial void CannotReopen(ILogger logger, string leaseId);

        [LoggerMessage(52, LogLevel.Information, "Lease {LeaseId} had already ended at the broker", EventName = "LeaseAlreadyEnded")]
        public static partial void AlreadyEnded(ILogger logger, string leaseId);
    }
}
