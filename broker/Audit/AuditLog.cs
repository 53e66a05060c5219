using System.Text;
using System.Text.Json;
using System.Threading.Channels;

namespace GitHubActionsPort.Broker.Audit;

/// <summary>
/// The append-only, hash-chained audit trail. A record is acknowledged only once it is on disk: writers queue,
/// one loop writes whatever is waiting and flushes it to disk once for all of them (a group commit), so a crash of
/// the process loses no acknowledged record. A record that cannot be written fails its caller, which must then not
/// do what it was recording (fail closed).
/// </summary>
internal sealed partial class AuditLog : IAsyncDisposable
{
    /// <summary>Records waiting for the disk at most: beyond it writers wait (backpressure), they are not dropped.</summary>
    private const int MaxQueued = 10_000;

    private const int MaxBatch = 512;

    private readonly AuditOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<AuditLog> _logger;
    private readonly Channel<Pending> _queue = Channel.CreateBounded<Pending>(new BoundedChannelOptions(MaxQueued) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
    private readonly Task _writing;
    private FileStream? _file;
    private long _seq;
    private string _prev = AuditChain.Genesis;

    public AuditLog(AuditOptions options, TimeProvider time, ILogger<AuditLog> logger)
    {
        _options = options;
        _time = time;
        _logger = logger;
        ResumeChain();
        _writing = WriteLoopAsync();
    }

    /// <summary>Appends a record and returns once it is on disk; throws <see cref="AuditWriteException"/> if it cannot be.</summary>
    public async Task WriteAsync(AuditRecord record, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(record);
        var pending = new Pending(record);
        if (!_queue.Writer.TryWrite(pending))
        {
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
        if (_file is not null)
        {
            await _file.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Continues the chain of an existing trail: the next record follows its last line.</summary>
    private void ResumeChain()
    {
        if (!File.Exists(_options.Path))
        {
            return;
        }

        var last = File.ReadLines(_options.Path).LastOrDefault(l => l.Length > 0);
        if (last is null)
        {
            return;
        }

        using var json = JsonDocument.Parse(last);
        _seq = json.RootElement.GetProperty("seq").GetInt64();
        _prev = AuditChain.HashOf(last);
    }

    private async Task WriteLoopAsync()
    {
        var batch = new List<Pending>(MaxBatch);
        while (await _queue.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            // Give concurrent writers a moment to join this flush: one fsync for many records.
            if (_options.GroupCommitWindow > TimeSpan.Zero && _queue.Reader.Count < MaxBatch)
            {
                await Task.Delay(_options.GroupCommitWindow, _time).ConfigureAwait(false);
            }

            while (batch.Count < MaxBatch && _queue.Reader.TryRead(out var pending))
            {
                batch.Add(pending);
            }

            Commit(batch);
            batch.Clear();
        }
    }

    /// <summary>Writes and flushes a batch; on failure the file and the chain are put back as they were before it.</summary>
    private void Commit(List<Pending> batch)
    {
        var (seq, prev) = (_seq, _prev);
        long length = 0;
        try
        {
            var file = Open();
            length = file.Length;
            foreach (var pending in batch)
            {
                var line = Serialize(++seq, prev, pending.Record);
                file.Write(Encoding.UTF8.GetBytes(line + "\n"));
                prev = AuditChain.HashOf(line);
            }

            file.Flush(flushToDisk: true);
            (_seq, _prev) = (seq, prev);
            foreach (var pending in batch)
            {
                pending.Written.TrySetResult();
            }

            if (file.Length >= _options.MaxFileBytes)
            {
                Rotate();
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Log.WriteFailed(_logger, _options.Path, ex.Message, ex);
            TryTruncate(length);
            var failure = new AuditWriteException($"the audit trail {_options.Path} cannot be written: {ex.Message}", ex);
            foreach (var pending in batch)
            {
                pending.Written.TrySetException(failure);
            }
        }
    }

    private FileStream Open()
    {
        if (_file is null)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(_options.Path))!);
            var options = new FileStreamOptions { Mode = FileMode.Append, Access = FileAccess.Write, Share = FileShare.Read };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead;
            }

            _file = new FileStream(_options.Path, options);
        }

        return _file;
    }

    /// <summary>A partly written batch is cut off, so the trail never holds a record nobody was told about.</summary>
    private void TryTruncate(long length)
    {
        try
        {
            _file?.SetLength(length);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            _file?.Dispose();
            _file = null;
        }
    }

    /// <summary>Moves the full file aside and starts the next, whose first record chains to the last of this one.</summary>
    private void Rotate()
    {
        _file!.Dispose();
        _file = null;
        var rotated = $"{_options.Path}.{_time.GetUtcNow():yyyyMMdd'T'HHmmssfff}";
        File.Move(_options.Path, rotated);
        var line = Serialize(++_seq, _prev, new AuditRecord("audit.rotated", new Dictionary<string, object?> { ["previous_file"] = Path.GetFileName(rotated) }));
        var file = Open();
        file.Write(Encoding.UTF8.GetBytes(line + "\n"));
        file.Flush(flushToDisk: true);
        _prev = AuditChain.HashOf(line);
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
        [LoggerMessage(70, LogLevel.Error, "The audit trail {Path} cannot be written ({Reason}); what needed a record is refused", EventName = "AuditWriteFailed")]
        public static partial void WriteFailed(ILogger logger, string path, string reason, Exception exception);
    }
}
