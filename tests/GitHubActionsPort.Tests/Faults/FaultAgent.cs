namespace GitHubActionsPort.Tests.Faults;

/// <summary>
/// Every agent of the fault suite starts here, in-process or as a process, on the lane under test (<c>raw</c> or
/// <c>grpc</c>): the suite's fixtures run once per lane.
/// </summary>
internal static class FaultAgent
{
    /// <summary><c>ghaport up</c> in-process, forwarding a free loopback port to each target; waits for every ready line.</summary>
    public static Task<AgentUnderTest> StartAsync(
        string lane,
        Uri broker,
        IReadOnlyList<string> targets,
        IReadOnlyDictionary<string, string?> environment,
        IReadOnlyList<string>? extraArgs = null) =>
        AgentUnderTest.StartAsync(broker, Forwards(targets), environment, extraArgs: Args(lane, extraArgs), echo: TestContext.Progress);

    /// <summary>The <c>ghaport</c> process, forwarding a free loopback port to each target; waits for every ready line.</summary>
    public static async Task<AgentProcess> StartProcessAsync(
        string lane,
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

        args.AddRange(Args(lane, extraArgs));
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

    private static List<string> Args(string lane, IReadOnlyList<string>? extraArgs) => ["--lane", lane, .. extraArgs ?? []];
}
