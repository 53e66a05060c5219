using System.Diagnostics;

namespace GitHubActionsPort.Harness.Output;

/// <summary>
/// Prints a command's story: each step stamped with the seconds since the start and the part that acted, details
/// indented beneath. It remembers the step in progress, so a failure can say what was being attempted.
/// </summary>
internal sealed class Narrator(TextWriter output, TextWriter error)
{
    private const int ActorWidth = 7;
    private static readonly string DetailIndent = new(' ', "[ 000.00s] ".Length + ActorWidth + 1);

    private readonly long _started = Stopwatch.GetTimestamp();

    /// <summary>The last step announced: what was being done if something fails now.</summary>
    public string CurrentStep { get; private set; } = "starting";

    public TimeSpan Elapsed => Stopwatch.GetElapsedTime(_started);

    public void Title(string text)
    {
        output.WriteLine(text);
        output.WriteLine();
    }

    public void Step(string actor, string text)
    {
        CurrentStep = $"{actor}: {text}";
        output.WriteLine($"[{Elapsed.TotalSeconds,7:0.00}s] {actor,-ActorWidth} {text}");
    }

    public void Detail(string text) => output.WriteLine(DetailIndent + text);

    public void Blank() => output.WriteLine();

    public void Line(string text) => output.WriteLine(text);

    /// <summary>Reports a failure on standard error, naming the step it interrupted (<see cref="CurrentStep"/> when it happened).</summary>
    public void Fail(string command, string step, Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        output.Flush();
        error.WriteLine();
        error.WriteLine($"{command} FAILED after {Elapsed.TotalSeconds:0.0} s, at step \"{step}\":");
        error.WriteLine($"  {exception.GetType().Name}: {exception.Message}");
        error.Flush();
    }

    /// <summary>Reports something that went wrong without stopping the command (a step of the teardown).</summary>
    public void Warn(string text)
    {
        output.Flush();
        error.WriteLine($"warning: {text}");
        error.Flush();
    }
}
