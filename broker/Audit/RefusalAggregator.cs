using GitHubActionsPort.Broker.Telemetry;

namespace GitHubActionsPort.Broker.Audit;

/// <summary>
/// Turns a flood of refused id-tokens into a bounded number of <c>session.rejected</c> records. Anyone who can reach
/// the broker can be refused as fast as they can send, so one record each (fsync'd) let an outsider fill the disk.
/// Instead, per interval (<see cref="AuditOptions.RefusalInterval"/>): the first refusal of each peer address and
/// reason is written at once (<c>count</c> 1, with the identity the token claimed), the others are only counted, and
/// when the interval ends one record per pair carries how many more there were (<c>count</c>, <c>since</c>). At most
/// <see cref="AuditOptions.MaxRefusalGroups"/> pairs are held; refusals beyond them share one overflow group.
/// A refusal never waits for the disk: it is refused whether or not it is recorded (a failed write is logged by
/// the trail). Sessions, tunnels and leases are not aggregated: each of them is written, and waits for the disk.
/// </summary>
internal sealed partial class RefusalAggregator : IAsyncDisposable
{
    /// <summary>The group of refusals beyond <see cref="AuditOptions.MaxRefusalGroups"/>: every peer, every reason.</summary>
    public const string OverflowPeer = "(other peers)";

    public const string OverflowReason = "(more peers and reasons than Broker:Audit:MaxRefusalGroups)";

    private readonly AuditLog _log;
    private readonly AuditOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<RefusalAggregator> _logger;
    private readonly Lock _lock = new();
    private readonly Dictionary<(string Peer, string Reason), long> _counted = [];
    private readonly ITimer _timer;
    private DateTimeOffset _since;
    private bool _disposed;

    public RefusalAggregator(AuditLog log, AuditOptions options, TimeProvider time, ILogger<RefusalAggregator> logger)
    {
        _log = log;
        _options = options;
        _time = time;
        _logger = logger;
        _since = time.GetUtcNow();
        _timer = time.CreateTimer(_ => EndIntervalIfDue(), null, options.RefusalInterval, options.RefusalInterval);
    }

    /// <summary>Counts one refusal; writes it now if it is the first of its peer and reason in this interval.</summary>
    /// <param name="peer">The caller as gRPC names it (<c>ipv4:203.0.113.7:50123</c>); grouped by address, not port.</param>
    /// <param name="reason">Why the token was refused, in the broker's words.</param>
    /// <param name="claimed">Who the token claimed to be (sanitised), written with the first refusal only.</param>
    public void Record(string peer, string reason, string? claimed)
    {
        ArgumentNullException.ThrowIfNull(peer);
        ArgumentNullException.ThrowIfNull(reason);
        var address = AddressOf(peer);
        List<AuditRecord>? ended;
        AuditRecord? first = null;
        lock (_lock)
        {
            ended = EndIntervalIfDueLocked();
            var key = (address, reason);
            if (!_counted.ContainsKey(key) && _counted.Count >= _options.MaxRefusalGroups)
            {
                key = (OverflowPeer, OverflowReason);
            }

            if (_counted.TryGetValue(key, out var count))
            {
                _counted[key] = count + 1;
            }
            else
            {
                // Held at zero: the first is written now, only the ones after it are left for the interval's end.
                _counted[key] = 0;
                first = Rejected(key, 1, claimed, since: null);
            }
        }

        if (first is null)
        {
            BrokerMetrics.RefusalAggregated();
        }

        Write(ended);
        if (first is not null)
        {
            Write([first]);
        }
    }

    /// <summary>Writes what the current interval counted; the interval ends with the broker.</summary>
    public async ValueTask DisposeAsync()
    {
        List<AuditRecord> ended;
        lock (_lock)
        {
            _disposed = true;
            ended = TakeCounted();
        }

        await _timer.DisposeAsync().ConfigureAwait(false);
        await Task.WhenAll(ended.Select(WriteAsync)).ConfigureAwait(false);
    }

    /// <summary><c>ipv4:203.0.113.7:50123</c> → <c>203.0.113.7</c>, <c>ipv6:[2001:db8::1]:50123</c> → <c>2001:db8::1</c>; anything else as it is.</summary>
    internal static string AddressOf(string peer)
    {
        var colon = peer.IndexOf(':', StringComparison.Ordinal);
        var scheme = colon < 0 ? string.Empty : peer[..colon];
        if (scheme is not ("ipv4" or "ipv6"))
        {
            return peer;
        }

        var hostAndPort = peer[(colon + 1)..];
        var port = hostAndPort.LastIndexOf(':');
        var host = port < 0 ? hostAndPort : hostAndPort[..port];
        return host.Trim('[', ']');
    }

    private void EndIntervalIfDue()
    {
        List<AuditRecord>? ended;
        lock (_lock)
        {
            ended = _disposed ? null : EndIntervalIfDueLocked();
        }

        Write(ended);
    }

    private List<AuditRecord>? EndIntervalIfDueLocked() =>
        _time.GetUtcNow() - _since >= _options.RefusalInterval ? TakeCounted() : null;

    /// <summary>One record per group refused more than once in the interval now ending; the next interval starts empty.</summary>
    private List<AuditRecord> TakeCounted()
    {
        var records = _counted.Where(c => c.Value > 0).Select(c => Rejected(c.Key, c.Value, claimed: null, since: _since)).ToList();
        _counted.Clear();
        _since = _time.GetUtcNow();
        return records;
    }

    private static AuditRecord Rejected((string Peer, string Reason) key, long count, string? claimed, DateTimeOffset? since)
    {
        var fields = new Dictionary<string, object?>
        {
            ["peer"] = key.Peer,
            ["reason"] = key.Reason,
            ["count"] = count,
        };
        if (claimed is not null)
        {
            fields["claimed"] = claimed;
        }

        if (since is not null)
        {
            // The count is of the refusals after the first, from this time to the record's own.
            fields["since"] = since;
        }

        return new AuditRecord("session.rejected", fields);
    }

    private void Write(List<AuditRecord>? records)
    {
        foreach (var record in records ?? [])
        {
            _ = WriteAsync(record);
        }
    }

    /// <summary>Writes without anyone waiting: a refusal is refused whether or not it is recorded.</summary>
    private async Task WriteAsync(AuditRecord record)
    {
        try
        {
            await _log.WriteAsync(record).ConfigureAwait(false);
        }
        catch (AuditWriteException ex)
        {
            Log.RefusalNotRecorded(_logger, ex.Message);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(75, LogLevel.Debug, "A refused id-token could not be recorded: {Reason}", EventName = "AuditRefusalNotRecorded")]
        public static partial void RefusalNotRecorded(ILogger logger, string reason);
    }
}
