using System.Text;

namespace GitHubActionsPort.TestSupport;

/// <summary>A TextWriter that keeps whole lines and lets a test wait for one.</summary>
public sealed class LineWriter : TextWriter
{
    private readonly StringBuilder _partial = new();
    private readonly List<string> _lines = [];
    private readonly List<(Func<string, bool> Match, TaskCompletionSource<string> Found)> _waiters = [];
    private readonly Lock _lock = new();

    public override Encoding Encoding => Encoding.UTF8;

    public IReadOnlyList<string> Lines
    {
        get
        {
            lock (_lock)
            {
                return _lines.ToArray();
            }
        }
    }

    public override void Write(char value)
    {
        lock (_lock)
        {
            if (value == '\n')
            {
                var line = _partial.ToString().TrimEnd('\r');
                _partial.Clear();
                _lines.Add(line);
                for (var i = _waiters.Count - 1; i >= 0; i--)
                {
                    if (_waiters[i].Match(line))
                    {
                        _waiters[i].Found.TrySetResult(line);
                        _waiters.RemoveAt(i);
                    }
                }
            }
            else
            {
                _partial.Append(value);
            }
        }
    }

    public Task<string> WaitForLineAsync(Func<string, bool> match)
    {
        lock (_lock)
        {
            var existing = _lines.FirstOrDefault(match);
            if (existing is not null)
            {
                return Task.FromResult(existing);
            }

            var found = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((match, found));
            return found.Task;
        }
    }
}
