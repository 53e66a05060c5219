using System.Diagnostics;
using System.Globalization;
using GitHubActionsPort.Broker.DevIssuer;
using GitHubActionsPort.Harness.Output;

namespace GitHubActionsPort.Harness.Bench.Startup;

/// <summary>
/// What each way of shipping the agent costs a job before its first connection: the size of what is downloaded and
/// the time from starting <c>ghaport up --forward 0:echo</c> to its <c>ready</c> line (an id-token from the dev
/// issuer, a lease from an in-process broker, a listening port), for today's framework-dependent
/// <c>dotnet ghaport.dll</c>, a trimmed self-contained single file (ReadyToRun and compressed, as
/// <c>build.ps1 publish</c> makes it; uncompressed; neither) and Native AOT, all
/// published for this machine in the same run. Kinds alternate run by run, so a busy moment costs each alike; every
/// ratio is taken against the framework-dependent agent measured in the same run.
/// </summary>
internal sealed class StartupBench(int runs, Narrator narrator)
{
    public const string Baseline = "framework-dependent";

    public static string Name => "agent start-up: process start to its ready line (ghaport up, id-token, lease, listening), in-process broker";

    /// <summary>Publishes each kind of agent (a few minutes: trimming and Native AOT are slow), then times them.</summary>
    public async Task<IReadOnlyList<StartupTime>> RunAsync(List<string> notes, CancellationToken stopping)
    {
        ArgumentNullException.ThrowIfNull(notes);
        var rid = PublishedAgent.HostRuntimeIdentifier;
        var folder = Path.Combine(PublishedAgent.RepositoryRoot(), "artifacts", "bench-publish");
        var kinds = new List<AgentKind>();
        foreach (var kind in (AgentKind[])
            [
                new(Baseline, Path.Combine(folder, Baseline), []),
                new("single-file", Path.Combine(folder, "single-file-" + rid), ["-r", rid, "-p:AgentPublishKind=single-file"]),
                new("single-file-uncompressed", Path.Combine(folder, "single-file-uncompressed-" + rid), ["-r", rid, "-p:AgentPublishKind=single-file", "-p:EnableCompressionInSingleFile=false"]),
                new("single-file-jit-only", Path.Combine(folder, "single-file-jit-only-" + rid), ["-r", rid, "-p:AgentPublishKind=single-file", "-p:EnableCompressionInSingleFile=false", "-p:PublishReadyToRun=false"]),
                new("aot", string.Empty, ["-r", rid, "-p:PublishAot=true"]),
            ])
        {
            stopping.ThrowIfCancellationRequested();
            narrator.Step("setup", $"publishing the {kind.Name} agent for {rid}");
            // Native AOT is the agent the tests run: one publish serves both.
            var program = kind.Name == "aot" ? await PublishedAgent.PathAsync() : await PublishedAgent.PublishAsync(kind.Folder, kind.PublishArguments);
            kinds.Add(kind with { Program = program });
        }

        await using var issuer = await DevIssuer.StartAsync(cancellationToken: stopping);
        await using var echo = TcpTestServer.Echo();
        var configuration = BrokerUnderTest.DefaultConfiguration(issuer.Issuer, new Dictionary<string, string> { ["echo"] = echo.Address });
        await using var broker = await BrokerUnderTest.StartAsync(configuration);
        var environment = AgentUnderTest.GitHubEnvironment(issuer);
        string[] args = ["up", "--broker", broker.Address.ToString(), "--forward", "0:echo"];

        narrator.Step("measure", $"{Name}: one unmeasured start of each kind, then {runs} of each, kinds alternating");
        foreach (var kind in kinds)
        {
            await TimeToReadyAsync(kind, args, environment);
        }

        var times = kinds.ToDictionary(k => k.Name, _ => new List<double>(), StringComparer.Ordinal);
        for (var run = 0; run < runs; run++)
        {
            // Rotate who goes first, so no kind always follows the same one.
            foreach (var kind in kinds.Skip(run % kinds.Count).Concat(kinds.Take(run % kinds.Count)))
            {
                stopping.ThrowIfCancellationRequested();
                times[kind.Name].Add(await TimeToReadyAsync(kind, args, environment));
            }
        }

        var results = kinds.Select(k => new StartupTime(k.Name, SizeOf(k), times[k.Name])).ToList();
        foreach (var result in results)
        {
            narrator.Detail(string.Create(CultureInfo.InvariantCulture, $"{result.Kind}: {result.SizeBytes / 1048576.0:0.0} MiB, ready in {result.Median:0} ms (median of {runs})"));
            notes.Add(string.Create(CultureInfo.InvariantCulture, $"agent start-up {result.Kind} ({rid}): {result.SizeBytes:N0} bytes, ready in {result.Median:0} ms median of {runs} (fastest {result.Fastest:0}, slowest {result.Slowest:0})"));
        }

        return results;
    }

    /// <summary>The table, each kind against the framework-dependent agent measured in the same run.</summary>
    public static void Write(IReadOnlyList<StartupTime> results, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(results);
        ArgumentNullException.ThrowIfNull(output);
        var baseline = results.FirstOrDefault(r => r.Kind == Baseline);
        output.WriteLine($"Agent start-up ({Name}, {PublishedAgent.HostRuntimeIdentifier}):");
        output.WriteLine("kind                        size MiB  ready ms (median)  fastest  slowest  size / fd  ready / fd");
        output.WriteLine("--------------------------  --------  -----------------  -------  -------  ---------  ----------");
        foreach (var r in results)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{r.Kind,-26}  {r.SizeBytes / 1048576.0,8:0.0}  {r.Median,17:0}  {r.Fastest,7:0}  {r.Slowest,7:0}  {Ratio(r.SizeBytes, baseline?.SizeBytes),9}  {Ratio(r.Median, baseline?.Median),10}"));
        }

        output.WriteLine("(fd: the framework-dependent agent, run as dotnet ghaport.dll; its size counts the files it loads beside the .NET runtime, which it needs installed)");
    }

    private static string Ratio(double value, double? baseline) =>
        baseline is > 0 ? (value / baseline.Value).ToString("0.00", CultureInfo.InvariantCulture) : "-";

    /// <summary>What a user fetches: the one file, or a framework-dependent agent's assemblies and its deps/runtimeconfig files.</summary>
    private static long SizeOf(AgentKind kind) => kind.FrameworkDependent
        ? new DirectoryInfo(Path.GetDirectoryName(kind.Program)!).GetFiles()
            .Where(f => f.Extension == ".dll" || f.Name.EndsWith(".deps.json", StringComparison.Ordinal) || f.Name.EndsWith(".runtimeconfig.json", StringComparison.Ordinal))
            .Sum(f => f.Length)
        : new FileInfo(kind.Program).Length;

    /// <summary>Milliseconds from starting the process to its ready line; then the agent is stopped as a job's end would.</summary>
    private static async Task<double> TimeToReadyAsync(AgentKind kind, string[] args, IReadOnlyDictionary<string, string?> environment)
    {
        var started = Stopwatch.GetTimestamp();
        var agent = kind.FrameworkDependent
            ? ChildProcess.StartProgram("dotnet", [kind.Program, .. args], environment, name: kind.Name)
            : ChildProcess.StartProgram(kind.Program, args, environment, name: kind.Name);
        await using (agent.ConfigureAwait(false))
        {
            await agent.WaitForOutputAsync(line => line.StartsWith("ready ", StringComparison.Ordinal));
            var elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            await agent.TerminateAsync();
            return elapsed;
        }
    }
}
