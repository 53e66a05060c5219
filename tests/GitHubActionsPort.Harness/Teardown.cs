using GitHubActionsPort.Harness.Output;

namespace GitHubActionsPort.Harness;

/// <summary>
/// Stops what a command started, last started first, each exactly once, whether the command succeeded or failed.
/// A failure while stopping one part is reported and the rest are still stopped: it must neither hide the
/// command's own error nor leave a PostgreSQL cluster or an agent process behind.
/// </summary>
internal sealed class Teardown(Narrator narrator, bool narrate) : IAsyncDisposable
{
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(30);

    private readonly Stack<(string Name, IAsyncDisposable Part)> _started = new();

    /// <summary>True once stopping some part failed.</summary>
    public bool Failed { get; private set; }

    /// <summary>Registers a started part, to be stopped in reverse order; returns it for convenience.</summary>
    public T Add<T>(string name, T part)
        where T : IAsyncDisposable
    {
        _started.Push((name, part));
        return part;
    }

    public async ValueTask DisposeAsync()
    {
        while (_started.TryPop(out var entry))
        {
            try
            {
                await entry.Part.DisposeAsync().AsTask().WithTimeout(StopTimeout, $"stopping the {entry.Name}");
                if (narrate)
                {
                    narrator.Step("stop", $"{entry.Name} stopped");
                }
            }
            catch (Exception ex)
            {
                Failed = true;
                narrator.Warn($"stopping the {entry.Name} failed: {ex.Message}");
            }
        }
    }
}
