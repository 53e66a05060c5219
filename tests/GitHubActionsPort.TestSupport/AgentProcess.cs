using System.Net;

namespace GitHubActionsPort.TestSupport;

/// <summary>The <c>ghaport</c> agent as a real child process, and the forwards its ready lines announced.</summary>
public sealed class AgentProcess : IAsyncDisposable
{
    /// <summary>The test's own CI variables must not leak into the agent's choice of token source.</summary>
    private static readonly string[] TokenSourceVariables = ["ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "GITHUB_ACTIONS"];

    private AgentProcess(ChildProcess process) => Process = process;

    public ChildProcess Process { get; }

    public LineWriter Output => Process.Output;

    public LineWriter Error => Process.Error;

    public int Id => Process.Id;

    public Dictionary<string, IPEndPoint> Forwards { get; } = new(StringComparer.Ordinal);

    public static AgentProcess Start(IEnumerable<string> args, IReadOnlyDictionary<string, string?>? environment = null) =>
        new(ChildProcess.Start("ghaport.dll", args, environment, inherit: name => !TokenSourceVariables.Contains(name, StringComparer.Ordinal)));

    /// <summary>Waits for <paramref name="count"/> ready lines; fails with the agent's output if it exits first.</summary>
    public async Task WaitReadyAsync(int count)
    {
        await Process.WaitForOutputAsync(line => line.StartsWith("ready ", StringComparison.Ordinal), count).ConfigureAwait(false);
        foreach (var line in Output.Lines)
        {
            if (ReadyLine.TryParse(line, out var endPoint, out var target))
            {
                Forwards[target] = endPoint;
            }
        }
    }

    public Task<int> WaitForExitAsync(TimeSpan? timeout = null) => Process.WaitForExitAsync(timeout);

    public Task<int> TerminateAsync() => Process.TerminateAsync();

    public ValueTask DisposeAsync() => Process.DisposeAsync();
}
