namespace GitHubActionsPort.TestSupport;

/// <summary>One captured log record.</summary>
public sealed record LogEntry(string Category, LogLevel Level, EventId EventId, string Message, Exception? Exception)
{
    public override string ToString() => $"{Level} {Category}[{EventId.Id}] {Message}{(Exception is null ? "" : " " + Exception.GetType().Name + ": " + Exception.Message)}";
}

/// <summary>A logger provider that keeps every record, so a test can wait for one or check none was an error.</summary>
public sealed class LogSink : ILoggerProvider
{
    private readonly Sightings<LogEntry> _entries = new();

    public IReadOnlyList<LogEntry> Entries => _entries.All;

    /// <summary>Also write each record here (the test's output), to read a failed run.</summary>
    public TextWriter? Echo { get; set; }

    public ILogger CreateLogger(string categoryName) => new SinkLogger(this, categoryName);

    /// <summary>The <paramref name="occurrence"/>-th record, past or future, that matches (the first by default).</summary>
    public Task<LogEntry> WaitForAsync(Func<LogEntry, bool> match, int occurrence = 1) => _entries.WaitForAsync(match, occurrence);

    public IEnumerable<LogEntry> Errors => Entries.Where(e => e.Level >= LogLevel.Error);

    public void Dispose()
    {
    }

    private void Add(LogEntry entry)
    {
        Echo?.WriteLine(entry.ToString());
        _entries.Add(entry);
    }

    private sealed class SinkLogger(LogSink sink, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                sink.Add(new LogEntry(category, logLevel, eventId, formatter(state, exception), exception));
            }
        }
    }
}
