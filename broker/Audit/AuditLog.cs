using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using GitHubActionsPort.Broker.Store;
using GitHubActionsPort.Broker.Telemetry;

namespace GitHubActionsPort.Broker.Audit;

/// <summary>
/// The append-only, hash-chained audit trail. A record is acknowledged only once it is on disk: writers queue,
/// one loop writes whatever is waiting and flushes it to disk once for all of them (a group commit), so a crash of
/// the process loses no acknowledged record. A record that cannot be written fails its caller, which must then not
/// do what it was recording (fail closed).
/// </summary>
/// <remarks>
/// A failed write (a full disk, an I/O error) fails every record of its batch and nothing else: the loop goes on,
/// the bytes the batch managed to write are cut off (the file ends on its last whole record, so the chain is never
/// broken by half a line), and the next batch tries the disk again. If even the cut fails, nothing more is written
/// until it succeeds: the trail stays unwritable (fail closed) rather than append after a partial line. While the
/// trail cannot be written it says so (<see cref="IsWritable"/>, <c>/healthz</c>, <c>ghaport.audit.writable</c>),
/// and it retries by itself every <see cref="AuditOptions.RetryInterval"/>; the first write that succeeds again
/// starts with an <c>audit.resumed</c> record saying since when and how many records were refused.
/// </remarks>
internal sealed partial class AuditLog : IAsyncDisposable
{
    /// <summary>
    /// Records waiting for the disk at most: beyond it writers wait (backpressure) while the disk takes records, and
    /// are refused at once while it does not, so nobody can grow the queue while the trail is failing.
    /// </summary>
    private const int MaxQueued = 10_000;

    private const int MaxBatch = 512;

    private readonly AuditOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<AuditLog> _logger;
    private readonly Channel<Pending> _queue = Channel.CreateBounded<Pending>(new BoundedChannelOptions(MaxQueued) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
    private readonly Task _writing;
    private FileStream? _file;

    /// <summary>Bytes of whole records in the current file: where the next record goes, and what a failed batch is cut back to.</summary>
    private long _length;

    private readonly string? _instance;
    private long _seq;
    private string _prev = AuditChain.Genesis;
    private volatile bool _writable = true;
    private DateTimeOffset? _failingSince;
    private long _failedRecords;

    /// <summary>A rotation's own records that could not be written yet: they go first in the next batch.</summary>
    private List<AuditRecord>? _rotationRecords;

    // Every record names this process's instance (when given): each instance keeps a trail of its own, and the files
    // are shipped to one place, where a record must still say which broker wrote it.
    public AuditLog(AuditOptions options, TimeProvider time, ILogger<AuditLog> logger, BrokerInstance? instance = null)
    {
        _options = options;
        _instance = instance?.Id;
        _time = time;
        _logger = logger;
        ResumeChain();
        BrokerMetrics.AuditWritable(true);
        _writing = WriteLoopAsync();
    }

    /// <summary>False from a failed write until a write succeeds again.</summary>
    public bool IsWritable => _writable;

    /// <summary>Appends a record and returns once it is on disk; throws <see cref="AuditWriteException"/> if it cannot be.</summary>
    public async Task WriteAsync(AuditRecord record, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(record);
        var pending = new Pending(record);
        if (!_queue.Writer.TryWrite(pending))
        {
            if (!_writable)
            {
                throw new AuditWriteException($"the audit trail {_options.Path} cannot be written and {MaxQueued} records already wait for it");
            }

            try
            {
                await _queue.Writer.WriteAsync(pending, cancellationToken).ConfigureAwait(false);
            }
            catch (ChannelClosedException ex)
            {
                throw new AuditWriteException("the audit trail is closed", ex);
            }
        }

        await pending.Written.Task.ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _writing.ConfigureAwait(false);
        CloseFile();
    }

    /// <summary>
    /// Continues the chain of an existing trail: the next record follows its last whole line. Bytes after it (a line
    /// a crash cut short, never acknowledged) are cut off when the file is first opened.
    /// </summary>
    private void ResumeChain()
    {
        if (!File.Exists(_options.Path))
        {
            return;
        }

        using var file = new FileStream(_options.Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var (end, last) = LastWholeLine(file);
        _length = end;
        if (last is null)
        {
            return;
        }

        using var json = JsonDocument.Parse(last);
        _seq = json.RootElement.GetProperty("seq").GetInt64();
        _prev = AuditChain.HashOf(last);
    }

    /// <summary>Where the file's last whole line ends (after its newline), and that line; (0, null) for none.</summary>
    private static (long End, string? Line) LastWholeLine(FileStream file)
    {
        var newline = NewlineBefore(file, file.Length);
        if (newline < 0)
        {
            return (0, null);
        }

        var start = NewlineBefore(file, newline) + 1;
        var line = new byte[newline - start];
        file.Position = start;
        file.ReadExactly(line);
        return (newline + 1, Encoding.UTF8.GetString(line));
    }

    /// <summary>The position of the last newline before <paramref name="before"/>, or -1.</summary>
    private static long NewlineBefore(FileStream file, long before)
    {
        var chunk = new byte[64 * 1024];
        var position = before;
        while (position > 0)
        {
            var size = (int)Math.Min(chunk.Length, position);
            position -= size;
            file.Position = position;
            file.ReadExactly(chunk, 0, size);
            var found = chunk.AsSpan(0, size).LastIndexOf((byte)'\n');
            if (found >= 0)
            {
                return position + found;
            }
        }

        return -1;
    }

    private async Task WriteLoopAsync()
    {
        var batch = new List<Pending>(MaxBatch);
        while (await WaitForWorkAsync().ConfigureAwait(false))
        {
            // Give concurrent writers a moment to join this flush: one fsync for many records.
            if (_options.GroupCommitWindow > TimeSpan.Zero && _queue.Reader.Count is > 0 and < MaxBatch)
            {
                await Task.Delay(_options.GroupCommitWindow, _time).ConfigureAwait(false);
            }

            while (batch.Count < MaxBatch && _queue.Reader.TryRead(out var pending))
            {
                batch.Add(pending);
            }

            try
            {
                Commit(batch);
            }
            catch (Exception ex)
            {
                // Nothing may end this loop while the broker runs: a waiter never answered is a hung caller.
                Fail(batch, ex);
            }

            batch.Clear();
        }
    }

    /// <summary>
    /// True when there are records to write, or, while the trail is failing, when it is time to try the disk again
    /// (with no records, to learn whether it can be written); false once the queue is closed and empty.
    /// </summary>
    private async Task<bool> WaitForWorkAsync()
    {
        if (_writable)
        {
            return await _queue.Reader.WaitToReadAsync().ConfigureAwait(false);
        }

        using var retry = new CancellationTokenSource(_options.RetryInterval, _time);
        try
        {
            return await _queue.Reader.WaitToReadAsync(retry.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (retry.IsCancellationRequested)
        {
            return true;
        }
    }

    /// <summary>Writes and flushes a batch, then answers its writers; on failure <see cref="Fail"/> answers them.</summary>
    private void Commit(List<Pending> batch)
    {
        var records = new List<AuditRecord>(batch.Count + 3);
        records.AddRange(_rotationRecords ?? []);
        if (_failingSince is { } since)
        {
            records.Add(new AuditRecord("audit.resumed", new Dictionary<string, object?>
            {
                ["failing_since"] = since,
                ["failed_records"] = _failedRecords,
            }));
        }

        records.AddRange(batch.Select(p => p.Record));
        if (records.Count == 0)
        {
            return;
        }

        try
        {
            Append(records);
        }
        catch (Exception ex)
        {
            Fail(batch, ex);
            return;
        }

        if (!_writable)
        {
            Log.WriteResumed(_logger, _options.Path, _failedRecords);
        }

        (_failingSince, _failedRecords, _writable, _rotationRecords) = (null, 0, true, null);
        BrokerMetrics.AuditWritable(true);
        foreach (var pending in batch)
        {
            pending.Written.TrySetResult();
        }

        if (_length >= _options.MaxFileBytes)
        {
            Rotate();
        }
    }

    /// <summary>
    /// Appends whole records and flushes them to disk, or, if it cannot, cuts the file back to its last whole record
    /// and throws: the chain and the file move together or not at all.
    /// </summary>
    private void Append(IReadOnlyList<AuditRecord> records)
    {
        var (seq, prev) = (_seq, _prev);
        using var bytes = new MemoryStream();
        foreach (var record in records)
        {
            var line = Serialize(++seq, prev, record);
            bytes.Write(Encoding.UTF8.GetBytes(line));
            bytes.WriteByte((byte)'\n');
            prev = AuditChain.HashOf(line);
        }

        try
        {
            var file = Open();
            file.Position = _length;
            file.Write(bytes.GetBuffer().AsSpan(0, (int)bytes.Length));
            file.Flush(flushToDisk: true);
        }
        catch
        {
            CutBack();
            throw;
        }

        _length += bytes.Length;
        (_seq, _prev) = (seq, prev);
    }

    /// <summary>Fails a batch's writers with the cause, and marks the trail unwritable until a write succeeds.</summary>
    private void Fail(List<Pending> batch, Exception cause)
    {
        _failedRecords += batch.Count;
        BrokerMetrics.AuditWriteFailed(batch.Count);
        BrokerMetrics.AuditWritable(false);
        if (_writable)
        {
            _failingSince = _time.GetUtcNow();
            _writable = false;
            Log.WriteFailed(_logger, _options.Path, cause.Message, cause);
        }
        else
        {
            Log.StillFailing(_logger, _options.Path, cause.Message);
        }

        var failure = new AuditWriteException($"the audit trail {_options.Path} cannot be written: {cause.Message}", cause);
        foreach (var pending in batch)
        {
            pending.Written.TrySetException(failure);
        }
    }

    /// <summary>
    /// A partly written batch is cut off, so the trail never holds a record nobody was told about, nor half a line.
    /// If the cut fails, the file is closed and the cut is tried again before anything else is written to it.
    /// </summary>
    private void CutBack()
    {
        if (_file is null)
        {
            return;
        }

        try
        {
            _file.SetLength(_length);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            CloseFile();
        }
    }

    private FileStream Open()
    {
        if (_file is not null)
        {
            return _file;
        }

        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(_options.Path))!);
        // Unbuffered: every byte is handed to the OS by Write itself, so no buffered byte is left for Flush, SetLength
        // or Dispose to write (and fail on) later.
        var options = new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.Write, Share = FileShare.Read, BufferSize = 0 };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead;
        }

        var file = new FileStream(_options.Path, options);
        try
        {
            // Bytes past the last whole record (a batch that failed, or a crash, cut short) go before anything else.
            if (file.Length > _length)
            {
                file.SetLength(_length);
            }

            // A file shorter than the chain knows was cut or replaced by someone else: append at its end (verify will
            // show where the chain broke) rather than pad it.
            _length = Math.Min(_length, file.Length);
        }
        catch
        {
            file.Dispose();
            throw;
        }

        _file = file;
        return file;
    }

    private void CloseFile()
    {
        try
        {
            _file?.Dispose();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Unbuffered, so nothing was left to write: the handle is closed all the same.
        }

        _file = null;
    }

    /// <summary>
    /// Moves the full file aside and starts the next, whose first record (<c>audit.rotated</c>) chains to the last of
    /// this one; then applies retention. A rotation that fails is logged and tried again after the next batch: the
    /// records already written stay acknowledged, and the chain goes on in whichever file is current.
    /// </summary>
    private void Rotate()
    {
        try
        {
            CloseFile();
            var rotated = RotatedName();
            File.Move(_options.Path, rotated);
            _length = 0;
            // From here the records below must reach the trail: a retention without its record would look like
            // files removed by someone else. If they cannot be written now, they lead the next batch.
            _rotationRecords =
            [
                new("audit.rotated", new Dictionary<string, object?> { ["previous_file"] = Path.GetFileName(rotated) }),
            ];
            if (AuditRetention.Apply(_options, _seq + 1, _prev) is { } retention)
            {
                Log.RetentionRemoved(_logger, retention.Removed.Count, string.Join(", ", retention.Removed));
                _rotationRecords.Add(retention.ToRecord());
            }

            Append(_rotationRecords);
            _rotationRecords = null;
        }
        catch (Exception ex)
        {
            Log.RotationFailed(_logger, _options.Path, ex.Message, ex);
        }
    }

    /// <summary><c>audit.jsonl.20260101T120000123</c>, with a suffix in the unlikely case that name is taken; names sort by age.</summary>
    private string RotatedName()
    {
        var name = $"{_options.Path}.{_time.GetUtcNow():yyyyMMdd'T'HHmmssfff}";
        var candidate = name;
        for (var i = 1; File.Exists(candidate); i++)
        {
            candidate = $"{name}-{i:D3}";
        }

        return candidate;
    }

    private string Serialize(long seq, string prev, AuditRecord record)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteNumber("seq", seq);
            json.WriteString("time", _time.GetUtcNow());
            json.WriteString("type", record.Type);
            if (_instance is not null)
            {
                json.WriteString("instance", _instance);
            }
            foreach (var (name, value) in record.Fields)
            {
                json.WritePropertyName(name);
                JsonSerializer.Serialize(json, value);
            }

            json.WriteString("prev", prev);
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private sealed class Pending(AuditRecord record)
    {
        public AuditRecord Record { get; } = record;

        public TaskCompletionSource Written { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private static partial class Log
    {
        [LoggerMessage(70, LogLevel.Error, "The audit trail {Path} cannot be written ({Reason}); what needed a record is refused until it can", EventName = "AuditWriteFailed")]
        public static partial void WriteFailed(ILogger logger, string path, string reason, Exception exception);

        [LoggerMessage(71, LogLevel.Debug, "The audit trail {Path} still cannot be written ({Reason})", EventName = "AuditStillFailing")]
        public static partial void StillFailing(ILogger logger, string path, string reason);

        [LoggerMessage(72, LogLevel.Warning, "The audit trail {Path} is written again; {Failed} records were refused while it could not be", EventName = "AuditWriteResumed")]
        public static partial void WriteResumed(ILogger logger, string path, long failed);

        [LoggerMessage(73, LogLevel.Error, "The audit trail {Path} could not be rotated ({Reason}); it is tried again after the next record", EventName = "AuditRotationFailed")]
        public static partial void RotationFailed(ILogger logger, string path, string reason, Exception exception);

        [LoggerMessage(74, LogLevel.Information, "Audit retention removed {Count} old trail files: {Files}", EventName = "AuditRetention")]
        public static partial void RetentionRemoved(ILogger logger, int count, string files);
    }
}
