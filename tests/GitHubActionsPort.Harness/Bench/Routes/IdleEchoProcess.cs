using System.Net;

namespace GitHubActionsPort.Harness.Bench.Routes;

/// <summary>The <see cref="IdleEchoCommand"/> target as a child process (<c>dotnet ghaport-harness.dll idle-echo</c>).</summary>
internal sealed class IdleEchoProcess : IAsyncDisposable
{
    private readonly ChildProcess _process;

    private IdleEchoProcess(ChildProcess process, IPEndPoint endPoint)
    {
        _process = process;
        EndPoint = endPoint;
    }

    public IPEndPoint EndPoint { get; }

    /// <summary>The value for <c>Broker:Targets:NAME</c>.</summary>
    public string Address => EndPoint.ToString();

    public bool HasExited => _process.HasExited;

    public static async Task<IdleEchoProcess> StartAsync()
    {
        var process = ChildProcess.Start("ghaport-harness.dll", [IdleEchoCommand.Name]);
        try
        {
            var line = await process.WaitForOutputAsync(l => l.StartsWith(IdleEchoCommand.ListeningPrefix, StringComparison.Ordinal));
            return new IdleEchoProcess(process, IPEndPoint.Parse(line[IdleEchoCommand.ListeningPrefix.Length..]));
        }
        catch
        {
            await process.DisposeAsync();
            throw;
        }
    }

    /// <summary>The connections it saw fail.</summary>
    public IReadOnlyList<string> Problems() => _process.Error.Lines;

    public ValueTask DisposeAsync() => _process.DisposeAsync();
}
