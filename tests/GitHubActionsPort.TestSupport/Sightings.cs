namespace GitHubActionsPort.TestSupport;

/// <summary>
/// Things seen so far, in order, and a way to wait for one that matches, whether it came already or comes later:
/// the race-free alternative to polling or sleeping.
/// </summary>
public sealed class Sightings<T>
    where T : class
{
    private readonly List<T> _seen = [];
    private readonly List<Waiter> _waiters = [];
    private readonly Lock _lock = new();

    public IReadOnlyList<T> All
    {
        get
        {
            lock (_lock)
            {
                return _seen.ToArray();
            }
        }
    }

    public void Add(T item)
    {
        lock (_lock)
        {
            _seen.Add(item);
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                var waiter = _waiters[i];
                if (waiter.Match(item) && --waiter.Remaining == 0)
                {
                    waiter.Found.TrySetResult(item);
                    _waiters.RemoveAt(i);
                }
            }
        }
    }

    /// <summary>The <paramref name="occurrence"/>-th item, past or future, that matches (the first by default).</summary>
    public Task<T> WaitForAsync(Func<T, bool> match, int occurrence = 1)
    {
        ArgumentNullException.ThrowIfNull(match);
        ArgumentOutOfRangeException.ThrowIfLessThan(occurrence, 1);
        lock (_lock)
        {
            var existing = _seen.Where(match).Take(occurrence).ToList();
            if (existing.Count == occurrence)
            {
                return Task.FromResult(existing[^1]);
            }

            var waiter = new Waiter(match, occurrence - existing.Count);
            _waiters.Add(waiter);
            return waiter.Found.Task;
        }
    }

    private sealed class Waiter(Func<T, bool> match, int remaining)
    {
        public Func<T, bool> Match { get; } = match;

        public int Remaining { get; set; } = remaining;

        public TaskCompletionSource<T> Found { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
