using Npgsql;

namespace GitHubActionsPort.Broker.Store;

/// <summary>
/// One connection that <c>LISTEN</c>s on the store's channel and raises a callback for each notification. When the
/// server goes away it reconnects by itself, backing off up to <see cref="MaxBackoff"/>, and raises the callback once
/// it is back, since notifications sent meanwhile were lost. It never throws out of its loop.
/// </summary>
internal sealed class PostgresChangeListener : IAsyncDisposable
{
    private static readonly TimeSpan FirstBackoff = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(5);

    private readonly NpgsqlDataSource _source;
    private readonly string _channel;
    private readonly Action _changed;
    private readonly PostgresFailure _failure;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly TaskCompletionSource _firstAttempt = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task? _loop;
    private int _connects;

    /// <summary>
    /// <paramref name="source"/> makes connections for listening only (no pooling, a keepalive so a silent loss is
    /// noticed); <paramref name="changed"/> is called for each notification and once after each reconnection.
    /// </summary>
    public PostgresChangeListener(NpgsqlDataSource source, string channel, Action changed, PostgresFailure failure, TimeProvider time, ILogger logger)
    {
        _source = source;
        _channel = channel;
        _changed = changed;
        _failure = failure;
        _time = time;
        _logger = logger;
    }

    /// <summary>How many times the listening connection has been (re)established: tests wait for it to grow.</summary>
    public int Connects => Volatile.Read(ref _connects);

    /// <summary>
    /// Starts listening; the task completes once the first attempt has listened or failed (the loop goes on either
    /// way), so a store that has opened hears every change committed after that.
    /// </summary>
    public Task StartAsync()
    {
        _loop ??= Task.Run(() => RunAsync(_stopping.Token));
        return _firstAttempt.Task;
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }

        _stopping.Dispose();
    }

    private async Task RunAsync(CancellationToken stopping)
    {
        var backoff = FirstBackoff;
        var lost = false;
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                var connection = await _source.OpenConnectionAsync(stopping).ConfigureAwait(false);
                await using (connection.ConfigureAwait(false))
                {
                    connection.Notification += (_, _) => Raise();
                    await using (var listen = new NpgsqlCommand($"LISTEN \"{_channel}\"", connection))
                    {
                        await listen.ExecuteNonQueryAsync(stopping).ConfigureAwait(false);
                    }

                    Interlocked.Increment(ref _connects);
                    _firstAttempt.TrySetResult();
                    if (lost)
                    {
                        StoreLog.ListenBack(_logger, _failure.Server);
                        Raise();
                    }
                    else
                    {
                        StoreLog.Listening(_logger, _failure.Server);
                    }

                    lost = false;
                    backoff = FirstBackoff;
                    while (true)
                    {
                        await connection.WaitAsync(stopping).ConfigureAwait(false);
                    }
                }
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                _firstAttempt.TrySetResult();
                return;
            }
            catch (Exception ex)
            {
                _firstAttempt.TrySetResult();

                // Whatever broke the connection (the server stopped, the network went, a driver error): the loop
                // goes on, since an instance that stopped listening would hear revocations only by polling.
                var cause = _failure.Cause(ex);
                if (!lost)
                {
                    StoreLog.ListenLost(_logger, _failure.Server, cause);
                    lost = true;
                }
                else
                {
                    StoreLog.ListenRetry(_logger, _failure.Server, cause, backoff);
                }
            }

            try
            {
                await Task.Delay(backoff, _time, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
        }
    }

    private void Raise()
    {
        try
        {
            _changed();
        }
#pragma warning disable CA1031 // A handler's failure must not end the listening loop.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            StoreLog.HandlerFailed(_logger, ex);
        }
    }
}
