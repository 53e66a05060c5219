using System.Text;

namespace GitHubActionsPort.TestSupport;

/// <summary>A TextWriter that keeps whole lines and lets a test wait for one.</summary>
public sealed class LineWriter : TextWriter
{
    private readonly StringBuilder _partial = new();
    private readonly Sightings<string> _lines = new();
    private readonly Lock _lock = new();

    public override Encoding Encoding => Encoding.UTF8;

    public IReadOnlyList<string> Lines => _lines.All;

    public override void Write(char value)
    {
        lock (_lock)
        {
            if (value == '\n')
            {
                _lines.Add(_partial.ToString().TrimEnd('\r'));
                _partial.Clear();
            }
            else
            {
                _partial.Append(value);
            }
        }
    }

    /// <summary>The <paramref name="occurrence"/>-th line, past or future, that matches (the first by default).</summary>
    public Task<string> WaitForLineAsync(Func<string, bool> match, int occurrence = 1) => _lines.WaitForAsync(match, occurrence);
}
