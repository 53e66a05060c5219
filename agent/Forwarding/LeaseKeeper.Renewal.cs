using GitHubActionsPort.Agent.Cli;
using GitHubActionsPort.Agent.Forwarding.Failover;
using GitHubActionsPort.Protocol.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;

namespace GitHubActionsPort.Agent.Forwarding;

/// <summary>Renewal: a fresh id-token before the lease runs out, never past its maximum life.</summary>
internal sealed partial class LeaseKeeper
{
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
                var (lease, replaced) = CurrentAndNextSignal();

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
                catch (RpcException ex) when (Observe(ex.Status))
                {
                    // Ended for good: nothing more to renew, and Ended has fired.
                    doneWith = lease.LeaseId;
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
        var movedOn = false;
        var freshForNext = false;
        OpenSessionResponse response;
        for (var tries = _route.Count; ; tries--)
        {
            var link = _route.Current;
            var request = new RenewSessionRequest { IdToken = idToken };
            if (_requestedTtl is { } ttl)
            {
                request.Ttl = Duration.FromTimeSpan(ttl);
            }

            try
            {
                response = await link.Client.RenewSessionAsync(request, Sign(lease, nameof(Broker.BrokerClient.RenewSession), string.Empty), DateTime.UtcNow + _sessionTimeout, cancellationToken).ConfigureAwait(false);
                _route.Succeeded(link);
                if (response.Lease is { } told)
                {
                    _route.Learned(link, told);
                }

                break;
            }
            catch (RpcException ex) when (movedOn && !freshForNext && ex.StatusCode == StatusCode.Unauthenticated && !IsLeaseUnknown(ex.Status) && !Protocol.LeaseEnded.TryRead(ex.Status, out _))
            {
                // The broker that went away may have checked (and so used up) the id-token before it went: one fresh
                // token for the broker the lease moved to, not a reason to stop renewing.
                freshForNext = true;
                idToken = await _freshIdToken!(cancellationToken).ConfigureAwait(false);
            }
            catch (RpcException ex) when (ex.StatusCode is StatusCode.PermissionDenied or StatusCode.FailedPrecondition or StatusCode.Unauthenticated && !IsLeaseUnknown(ex.Status) && !Protocol.LeaseEnded.TryRead(ex.Status, out _))
            {
                Log.RenewalRefused(_logger, lease.LeaseId, RpcErrors.Describe(ex.Status), lease.ExpiresAt.ToDateTimeOffset());
                return false;
            }
            catch (RpcException ex) when (BrokerGone.Cause(ex.Status) is { } cause && _route.Fail(link, cause, lease.LeaseId) && tries > 1)
            {
                // Its broker is gone: the same lease is renewed through the one the route moved to.
                movedOn = true;
            }
        }

        var renewed = response.Lease ?? throw new AgentException(ExitCodes.Failure, "the broker renewed the session without a lease");
        lock (_gate)
        {
            // A reopen may have put another session in place meanwhile; this renewal was of the one before. A lease
            // that ran out while the answer travelled stays ended: expiry is final.
            if (_closed || _expired || _current.LeaseId != renewed.LeaseId)
            {
                return true;
            }

            Install(renewed);
        }

        Log.Renewed(_logger, renewed.LeaseId, renewed.ExpiresAt.ToDateTimeOffset());
        return true;
    }
}
