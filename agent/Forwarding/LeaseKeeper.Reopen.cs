using GitHubActionsPort.Agent.Cli;
using GitHubActionsPort.Agent.Forwarding.Failover;
using GitHubActionsPort.Protocol.V1;
using Grpc.Core;

namespace GitHubActionsPort.Agent.Forwarding;

/// <summary>Reopening: a new session in place of a lease the broker no longer knows.</summary>
internal sealed partial class LeaseKeeper
{
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
                var link = _route.Current;
                try
                {
                    var idToken = await freshIdToken(stop.Token).ConfigureAwait(false);
                    var lease = await SessionOpener.OpenAsync(link.Client, link.Endpoint.Url, idToken, _sessionPublicKey, _targets, _requestedTtl, _sessionTimeout, stop.Token).ConfigureAwait(false);
                    _route.Succeeded(link);
                    _route.Learned(link, lease);
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
                catch (AgentException ex) when (!stop.IsCancellationRequested && ex.InnerException is RpcException rpc
                    && BrokerGone.Cause(rpc.Status) is { } cause && _route.Fail(link, cause, lost.LeaseId))
                {
                    // That broker is gone and another is there: ask it at once.
                    Volatile.Write(ref _lastReopenFailure, ex.Message);
                    continue;
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
            if (_closed || _expired || _ended.IsCancellationRequested || _current.LeaseId != lost.LeaseId)
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
}
