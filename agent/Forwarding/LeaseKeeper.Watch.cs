using GitHubActionsPort.Agent.Forwarding.Failover;
using GitHubActionsPort.Protocol.V1;
using Grpc.Core;

namespace GitHubActionsPort.Agent.Forwarding;

/// <summary>Watching: the broker says at once when it ends the lease for good, with or without a tunnel open.</summary>
internal sealed partial class LeaseKeeper
{
    /// <summary>
    /// Holds a WatchSession call open on the current lease until stopped or the lease ends. The broker answers it when
    /// the lease ends; an end for good (revoked, blocked, no longer permitted) is final (see <see cref="Observe"/>).
    /// Another end (expiry, the broker stopping or losing the lease) waits for a reopen to put a new lease in place,
    /// which is then watched in turn. A broker without the call is left to tell the agent on its next call.
    /// </summary>
    public async Task KeepWatchingAsync(CancellationToken stopping)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(stopping, Ended);
        var delay = FirstReopenDelay;
        try
        {
            while (true)
            {
                var (lease, replaced) = CurrentAndNextSignal();
                var link = _route.Current;

                try
                {
                    using (var call = link.Client.WatchSession(Sign(lease, nameof(Broker.BrokerClient.WatchSession), string.Empty), cancellationToken: stop.Token))
                    {
                        await call.RequestStream.CompleteAsync().ConfigureAwait(false);
                        await call.ResponseAsync.ConfigureAwait(false);
                    }

                    // Ended, not for good: the lease's own timer, or a new session in its place, takes it from here.
                    await replaced.WaitAsync(stop.Token).ConfigureAwait(false);
                    delay = FirstReopenDelay;
                    continue;
                }
                catch (RpcException ex) when (Observe(ex.Status))
                {
                    return;
                }
                catch (RpcException ex) when (ex.StatusCode == StatusCode.Unimplemented)
                {
                    Log.WatchUnsupported(_logger, _broker?.ToString() ?? "broker", lease.LeaseId);
                    return;
                }
                catch (RpcException ex) when (IsLeaseUnknown(ex.Status))
                {
                    // The broker lost it (restarted): the next connection opens a new session, which is watched then.
                    await replaced.WaitAsync(stop.Token).ConfigureAwait(false);
                    delay = FirstReopenDelay;
                    continue;
                }
                catch (RpcException ex) when (!stop.IsCancellationRequested && BrokerGone.Cause(ex.Status) is { } cause && _route.Fail(link, cause, lease.LeaseId))
                {
                    // Its broker went away (stopped, draining, unreachable): the lease is watched through the next one.
                    delay = FirstReopenDelay;
                }
                catch (RpcException ex) when (!stop.IsCancellationRequested)
                {
                    var wait = Jittered(delay);
                    Log.WatchRetry(_logger, lease.LeaseId, RpcErrors.Describe(ex.Status), wait.TotalSeconds);
                    await Task.Delay(wait, _time, stop.Token).ConfigureAwait(false);
                    delay = Min(delay * 2, MaxRetryDelay);
                }
            }
        }
        catch (Exception ex) when (stop.IsCancellationRequested && ex is OperationCanceledException or RpcException)
        {
            // Stopped, or the lease ended.
        }
    }
}
