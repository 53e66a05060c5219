using System.Globalization;
using GitHubActionsPort.Harness.Bench.Scenarios;
using GitHubActionsPort.Harness.Output;

namespace GitHubActionsPort.Harness.Bench.Routes;

/// <summary>
/// A ghaport route: a broker process (<c>dotnet ghaport-broker.dll run</c>) listening with the route's scheme and
/// lanes, an agent forwarding to every bench target through it, and a second agent, on a session of its own, for
/// the idle tunnels. Each route has its own processes, so CPU and memory are read per route and one route's idle
/// tunnels do not weigh on another's broker.
/// </summary>
internal sealed class GhaportRoute : IRouteHost
{
    private const string MetricsMarker = "Metrics and health on ";

    private readonly Teardown _teardown;
    private readonly ChildProcess _broker;
    private readonly TunnelAgent _agent;
    private readonly TunnelAgent _idleAgent;
    private readonly IdleEchoProcess _idle;
    private readonly string _auditFolder;

    private GhaportRoute(Teardown teardown, ChildProcess broker, TunnelAgent agent, TunnelAgent idleAgent, IdleEchoProcess idle, string auditFolder, BenchRoute route, string description)
    {
        _idleAgent = idleAgent;
        _teardown = teardown;
        _auditFolder = auditFolder;
        _broker = broker;
        _agent = agent;
        _idle = idle;
        Route = route;
        Description = description;
    }

    public BenchRoute Route { get; }

    public string Description { get; }

    public bool IsAlive => !_broker.HasExited && _agent.IsRunning && _idleAgent.IsRunning && !_idle.HasExited;

    public static async Task<GhaportRoute> StartAsync(RouteSpec spec, BenchTargets targets, AgentMode mode, Narrator narrator)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(targets);
        var teardown = new Teardown(narrator, narrate: false);
        var auditPath = BrokerUnderTest.TempAuditPath();
        try
        {
            var idle = teardown.Add("idle target", await IdleEchoProcess.StartAsync());
            var names = targets.BrokerTargets(idle.Address);
            var configuration = BrokerConfiguration(spec, targets, names);
            // Written to disk as a deployment's is: two records per tunnel are part of what a tunnel costs.
            configuration["Broker:Audit:Path"] = auditPath;
            var scheme = spec.Tls ? "https" : "http";
            var broker = teardown.Add("broker", BrokerProcess.Start(["run", "--urls", $"{scheme}://127.0.0.1:0"], BrokerProcess.Environment(configuration)));
            Uri address;
            try
            {
                address = await broker.WaitListeningAsync();
            }
            catch (InvalidOperationException ex)
            {
                throw new RouteUnavailableException($"the broker did not start: {BrokerError(broker) ?? ex.Message}", inner: ex);
            }

            // Two agents, two sessions: the idle tunnels get a lease of their own, fresh when their scenario starts,
            // rather than one that the traffic scenarios have just opened thousands of tunnels on.
            var agentArgs = AgentArguments(spec, targets);
            var trafficTargets = names.Keys.Where(n => n != BenchTargets.IdleName).ToList();
            var starting = TunnelAgent.StartAsync(mode, address, trafficTargets, agentArgs, targets.Issuer);
            var startingIdle = TunnelAgent.StartAsync(mode, address, [BenchTargets.IdleName], agentArgs, targets.Issuer);
            await Task.WhenAll(starting, startingIdle).ContinueWith(_ => { }, TaskScheduler.Default);
            if (startingIdle.IsCompletedSuccessfully)
            {
                teardown.Add("idle agent", startingIdle.Result);
            }

            var agent = teardown.Add("agent", await starting);
            var idleAgent = await startingIdle;
            var forwards = agent.Forwards;
            var route = new BenchRoute(spec, forwards[BenchTargets.SinkName], forwards[BenchTargets.SourceName], forwards[BenchTargets.EchoName])
            {
                Idle = idleAgent.Forwards[BenchTargets.IdleName],
                Postgres = forwards.GetValueOrDefault(BenchTargets.PostgresName),
                Processes = new RouteProcesses(
                    agent.ProcessId is { } pid ? [pid] : [],
                    [broker.Id],
                    Forks: false,
                    Broker: broker.Id,
                    BrokerMetrics: MetricsAddress(broker)),
            };
            var description = $"broker pid {broker.Id} at {address} ({spec.Lane} lane{(spec.Lane == RouteSpec.RawLane ? $", {scheme}" : string.Empty)}); {agent.Description}; idle tunnels through a second agent{(idleAgent.ProcessId is { } idlePid ? $" (pid {idlePid})" : string.Empty)}";
            return new GhaportRoute(teardown, broker, agent, idleAgent, idle, AuditFolder(auditPath), route, description);
        }
        catch
        {
            await teardown.DisposeAsync();
            DeleteAuditFolder(AuditFolder(auditPath));
            throw;
        }
    }

    /// <summary>
    /// The deployment's configuration with the limits raised for the idle-tunnel scenario, and the lanes set so the
    /// agent can only use the route's: the gRPC routes have the raw lane off (the agent's default, auto, then takes
    /// gRPC), the raw routes have it on at the same scheme as the broker's main port.
    /// </summary>
    private static Dictionary<string, string?> BrokerConfiguration(RouteSpec spec, BenchTargets targets, IReadOnlyDictionary<string, string> names)
    {
        var raw = spec.Lane == RouteSpec.RawLane;
        var configuration = BrokerUnderTest.DefaultConfiguration(targets.Issuer.Issuer, names);
        configuration["Broker:Rules:0:MaxConnections"] = IdleTunnelScenario.MostTunnels.ToString(CultureInfo.InvariantCulture);
        configuration["Broker:Transport:MaxTunnels"] = "100000";
        configuration["Broker:Transport:MaxConnections"] = "100000";
        configuration["Broker:Admin:Enabled"] = "false";
        configuration["Broker:Lanes:Grpc:Enabled"] = "true";
        configuration["Broker:Lanes:Raw:Enabled"] = raw ? "true" : "false";
        if (raw)
        {
            configuration["Broker:Lanes:Raw:Url"] = spec.Tls ? "https://127.0.0.1:0" : "http://127.0.0.1:0";
        }

        if (spec.Tls)
        {
            configuration["Broker:Tls:CertificatePath"] = targets.Certificate.CertificatePath;
            configuration["Broker:Tls:KeyPath"] = targets.Certificate.KeyPath;
        }

        return configuration;
    }

    private static List<string> AgentArguments(RouteSpec spec, BenchTargets targets)
    {
        var args = new List<string>();
        // Asked for by name so a build without the raw lane fails loudly instead of quietly measuring gRPC.
        if (spec.Lane == RouteSpec.RawLane)
        {
            args.AddRange(["--lane", RouteSpec.RawLane]);
        }

        if (spec.Tls)
        {
            args.AddRange(["--ca-cert", targets.Certificate.CaPath]);
        }

        return args;
    }

    private static Uri? MetricsAddress(ChildProcess broker)
    {
        var line = broker.Output.Lines.FirstOrDefault(l => l.Contains(MetricsMarker, StringComparison.Ordinal));
        if (line is null)
        {
            return null;
        }

        var text = line[(line.IndexOf(MetricsMarker, StringComparison.Ordinal) + MetricsMarker.Length)..].Split(' ')[0];
        return Uri.TryCreate(text, UriKind.Absolute, out var uri) ? uri : null;
    }

    private static string? BrokerError(ChildProcess broker) =>
        broker.Error.Lines.FirstOrDefault(l => l.StartsWith("ghaport-broker: ", StringComparison.Ordinal))
        ?? broker.Output.Lines.FirstOrDefault(l => l.Contains(" fail: ", StringComparison.Ordinal) || l.Contains(" crit: ", StringComparison.Ordinal));

    public IReadOnlyList<string> Problems() =>
    [
        .. _broker.Output.Lines.Concat(_broker.Error.Lines)
            .Where(l => l.Contains(" warn: ", StringComparison.Ordinal) || l.Contains(" fail: ", StringComparison.Ordinal) || l.Contains(" crit: ", StringComparison.Ordinal) || l.StartsWith("ghaport-broker: ", StringComparison.Ordinal))
            .Select(l => $"broker: {l}"),
        .. _agent.Problems().Select(p => $"agent: {p}"),
        .. _idleAgent.Problems().Select(p => $"idle agent: {p}"),
        .. _idle.Problems().Select(p => $"idle target: {p}"),
    ];

    /// <summary>
    /// Stops the agent, then the broker, with SIGTERM as a job's end and a service stop would (so the broker closes
    /// its audit trail), then the idle target; whatever did not stop in time is killed.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            await Task.WhenAll(_agent.StopAsync(), _idleAgent.StopAsync());
            await _broker.TerminateAsync();
        }
        catch (Exception ex) when (ex is TimeoutException or InvalidOperationException)
        {
            // Killed below; the teardown that follows reports nothing for a process already gone.
        }

        await _teardown.DisposeAsync();
        DeleteAuditFolder(_auditFolder);
    }

    private static string AuditFolder(string auditPath) => Path.GetDirectoryName(auditPath)!;

    private static void DeleteAuditFolder(string folder)
    {
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
