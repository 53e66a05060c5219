namespace GitHubActionsPort.Tests.Faults;

/// <summary>
/// Every agent of the fault suite starts here, in-process or as a process, so the suite can run against another
/// lane by changing <see cref="LaneArgs"/> alone (for example to <c>["--lane", "raw"]</c>, or by making the suite's
/// fixtures take the lane as a parameter and pass it through).
/// </summary>
internal static class FaultAgent
{
    /// <summary>The arguments that choose the lane under test; none is the gRPC lane, the only one today.</summary>
    public static IReadOnlyList<string> LaneArgs { get; } = [];

    /// <summary><c>ghaport up</c> in-process, forwarding a free loopback port to each target; waits for every ready line.</summary>
    public static Task<AgentUnderTest> StartAsync(
        Uri broker,
        IReadOnlyList<string> targets,
        IReadOnlyDictionary<string, string?> environment,
        IReadOnlyList<string>? extraArgs = null) =>
        AgentUnderTest.StartAsync(broker, Forwards(targets), environment, extraArgs: Args(extraArgs), echo: TestContext.Progress);

    /// <summary>The <c>ghaport</c> process, forwarding a free loopback port to each target; waits for every ready line.</summary>
    public static async Task<AgentProcess> StartProcessAsync(
        Uri broker,
        IReadOnlyList<string> targets,
        IReadOnlyDictionary<string, string?> environment,
        IReadOnlyList<string>? extraArgs = null)
    {
        ArgumentNullException.ThrowIfNull(broker);
        var args = new List<string> { "up", "--broker", broker.ToString() };
        foreach (var forward in Forwards(targets))
        {
            args.Add("--forward");
            args.Add(forward);
        }

        args.AddRange(Args(extraArgs));
        var agent = AgentProcess.Start(args, environment);
        try
        {
            await agent.WaitReadyAsync(targets.Count);
            return agent;
        }
        catch
        {
            await agent.DisposeAsync();
            throw;
        }
    }

    private static List<string> Forwards(IReadOnlyList<string> targets) => targets.Select(t => $"0:{t}").ToList();

    private static List<string> Args(IReadOnlyList<string>? extraArgs) => [.. LaneArgs, .. extraArgs ?? []];
}
