using System.Net;
using GitHubActionsPort.Broker.DevIssuer;

namespace GitHubActionsPort.Harness.Bench.Routes;

/// <summary>The agent under measurement, run as <see cref="AgentMode"/> says, behind one face.</summary>
internal abstract class TunnelAgent : IAsyncDisposable
{
    /// <summary>Listening address per target, from the ready lines.</summary>
    public abstract IReadOnlyDictionary<string, IPEndPoint> Forwards { get; }

    /// <summary>How it runs, for the report.</summary>
    public abstract string Description { get; }

    /// <summary>Its own process id; null when it runs inside the harness and its CPU cannot be told apart.</summary>
    public abstract int? ProcessId { get; }

    /// <summary>False once it has exited.</summary>
    public abstract bool IsRunning { get; }

    /// <summary>Warnings and errors it has logged so far (a tunnel reset, a refused tunnel).</summary>
    public abstract IReadOnlyList<string> Problems();

    /// <summary>Stops it as SIGTERM would and returns its exit code.</summary>
    public abstract Task<int> StopAsync();

    public abstract ValueTask DisposeAsync();

    /// <summary>
    /// Starts <c>ghaport up</c> with a free loopback port per target and <paramref name="extraArgs"/>, the GitHub
    /// Actions way, and waits until it is ready. An agent that exits instead (a flag this build does not know, a
    /// broker it cannot reach) throws <see cref="RouteUnavailableException"/> with the agent's own words.
    /// </summary>
    public static async Task<TunnelAgent> StartAsync(AgentMode mode, Uri broker, IReadOnlyList<string> targets, IReadOnlyList<string> extraArgs, DevIssuer issuer)
    {
        ArgumentNullException.ThrowIfNull(broker);
        ArgumentNullException.ThrowIfNull(targets);
        var environment = AgentUnderTest.GitHubEnvironment(issuer);
        var forwards = targets.Select(t => $"0:{t}").ToList();
        if (mode == AgentMode.InProcess)
        {
            var agent = AgentUnderTest.Run(broker, forwards, environment, extraArgs: extraArgs);
            try
            {
                await agent.WaitReadyAsync(targets.Count);
                return new InProcess(agent);
            }
            catch (InvalidOperationException ex)
            {
                await agent.DisposeAsync();
                throw new RouteUnavailableException($"ghaport up failed: {FirstProblem(agent.Error.Lines) ?? ex.Message}", inner: ex);
            }
        }

        var args = new List<string> { "up", "--broker", broker.ToString() };
        args.AddRange(forwards.SelectMany(f => new[] { "--forward", f }));
        args.AddRange(extraArgs);
        var process = AgentProcess.Start(args, environment);
        try
        {
            await process.WaitReadyAsync(targets.Count);
            return new ChildProcess(process);
        }
        catch (InvalidOperationException ex)
        {
            await process.DisposeAsync();
            throw new RouteUnavailableException($"ghaport up failed: {FirstProblem(process.Error.Lines) ?? ex.Message}", inner: ex);
        }
        catch
        {
            await process.DisposeAsync();
            throw;
        }
    }

    // The agent says why it stopped on one line of its own, after any log records: "ghaport: ..." in a shell, a
    // GitHub annotation ("::error title=ghaport::...") in the GitHub Actions environment the bench gives it.
    private static string? FirstProblem(IReadOnlyList<string> lines)
    {
        const string Annotation = "::error ";
        var line = lines.FirstOrDefault(l => l.StartsWith("ghaport: ", StringComparison.Ordinal) || l.StartsWith(Annotation, StringComparison.Ordinal))
            ?? lines.LastOrDefault(l => !string.IsNullOrWhiteSpace(l));
        if (line is not null && line.StartsWith(Annotation, StringComparison.Ordinal) && line.IndexOf("::", Annotation.Length, StringComparison.Ordinal) is var end and > 0)
        {
            return line[(end + 2)..];
        }

        return line;
    }

    private sealed class ChildProcess(AgentProcess agent) : TunnelAgent
    {
        // The console logger's level names; anything from warn up is worth a look.
        private static readonly string[] ProblemMarkers = [" warn: ", " fail: ", " crit: ", "ghaport: ", "::error ", "::warning "];

        public override IReadOnlyDictionary<string, IPEndPoint> Forwards => agent.Forwards;

        public override string Description => $"ghaport as a child process (dotnet ghaport.dll, pid {agent.Id})";

        public override int? ProcessId => agent.Id;

        public override bool IsRunning => !agent.Process.HasExited;

        public override IReadOnlyList<string> Problems() =>
            agent.Error.Lines.Where(line => ProblemMarkers.Any(m => line.Contains(m, StringComparison.Ordinal))).ToList();

        public override Task<int> StopAsync() => agent.TerminateAsync();

        public override ValueTask DisposeAsync() => agent.DisposeAsync();
    }

    private sealed class InProcess(AgentUnderTest agent) : TunnelAgent
    {
        public override IReadOnlyDictionary<string, IPEndPoint> Forwards => agent.Forwards;

        // AgentUnderTest keeps every Debug record in memory, a cost the real process does not pay; said here so
        // nobody mistakes it for the agent's.
        public override string Description => "ghaport in-process (AgentUnderTest: shares the harness's CPU and GC, records Debug logs in memory)";

        public override int? ProcessId => null;

        public override bool IsRunning => !agent.Exit.IsCompleted;

        public override IReadOnlyList<string> Problems() =>
            agent.Logs.Entries.Where(e => e.Level >= LogLevel.Warning).Select(e => e.ToString()).ToList();

        public override Task<int> StopAsync() => agent.StopAsync();

        public override ValueTask DisposeAsync() => agent.DisposeAsync();
    }
}
