using System.Net;
using GitHubActionsPort.Broker.DevIssuer;

namespace GitHubActionsPort.Harness.Bench;

/// <summary>The agent under measurement, run as <see cref="AgentMode"/> says, behind one face.</summary>
internal abstract class TunnelAgent : IAsyncDisposable
{
    /// <summary>Listening address per target, from the ready lines.</summary>
    public abstract IReadOnlyDictionary<string, IPEndPoint> Forwards { get; }

    /// <summary>How it runs, for the report.</summary>
    public abstract string Description { get; }

    /// <summary>Warnings and errors it has logged so far (a tunnel reset, a refused tunnel).</summary>
    public abstract IReadOnlyList<string> Problems();

    /// <summary>Stops it as SIGTERM would and returns its exit code.</summary>
    public abstract Task<int> StopAsync();

    public abstract ValueTask DisposeAsync();

    /// <summary>Starts <c>ghaport up</c> with a free loopback port per target, the GitHub Actions way, and waits until it is ready.</summary>
    public static async Task<TunnelAgent> StartAsync(AgentMode mode, Uri broker, IReadOnlyList<string> targets, DevIssuer issuer)
    {
        ArgumentNullException.ThrowIfNull(broker);
        ArgumentNullException.ThrowIfNull(targets);
        var environment = AgentUnderTest.GitHubEnvironment(issuer);
        var forwards = targets.Select(t => $"0:{t}").ToList();
        if (mode == AgentMode.InProcess)
        {
            return new InProcess(await AgentUnderTest.StartAsync(broker, forwards, environment));
        }

        var args = new List<string> { "up", "--broker", broker.ToString() };
        args.AddRange(forwards.SelectMany(f => new[] { "--forward", f }));
        var process = AgentProcess.Start(args, environment);
        try
        {
            await process.WaitReadyAsync(targets.Count);
            return new ChildProcess(process);
        }
        catch
        {
            await process.DisposeAsync();
            throw;
        }
    }

    private sealed class ChildProcess(AgentProcess agent) : TunnelAgent
    {
        // The console logger's level names; anything from warn up is worth a look.
        private static readonly string[] ProblemMarkers = [" warn: ", " fail: ", " crit: ", "ghaport: "];

        public override IReadOnlyDictionary<string, IPEndPoint> Forwards => agent.Forwards;

        public override string Description => $"ghaport as a child process (dotnet ghaport.dll, pid {agent.Id})";

        public override IReadOnlyList<string> Problems() =>
            agent.Error.Lines.Where(line => ProblemMarkers.Any(m => line.Contains(m, StringComparison.Ordinal))).ToList();

        public override Task<int> StopAsync() => agent.TerminateAsync();

        public override ValueTask DisposeAsync() => agent.DisposeAsync();
    }

    private sealed class InProcess(AgentUnderTest agent) : TunnelAgent
    {
        public override IReadOnlyDictionary<string, IPEndPoint> Forwards => agent.Forwards;

        // AgentUnderTest records every log at Debug, the gRPC client's per-message records included: a cost the
        // real process, which logs gRPC at Warning, does not pay. Said here so nobody mistakes it for the agent's.
        public override string Description => "ghaport in-process (AgentUnderTest, which also records gRPC client Debug logs per message)";

        public override IReadOnlyList<string> Problems() =>
            agent.Logs.Entries.Where(e => e.Level >= LogLevel.Warning).Select(e => e.ToString()).ToList();

        public override Task<int> StopAsync() => agent.StopAsync();

        public override ValueTask DisposeAsync() => agent.DisposeAsync();
    }
}
