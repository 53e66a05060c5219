using System.Net;
using GitHubActionsPort.Agent.Cli;
using GitHubActionsPort.Agent.Forwarding;

namespace GitHubActionsPort.TestSupport;

/// <summary>
/// The real agent command run in-process (same code path as the <c>ghaport</c> process), with its standard
/// output, error and log captured, and its environment given by the test.
/// </summary>
public sealed class AgentUnderTest : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop;

    private AgentUnderTest(CancellationTokenSource stop, LineWriter output, LineWriter error, LogSink logs, Task<int> exit)
    {
        _stop = stop;
        Output = output;
        Error = error;
        Logs = logs;
        Exit = exit;
    }

    public LineWriter Output { get; }

    public LineWriter Error { get; }

    public LogSink Logs { get; }

    /// <summary>Completes with the exit code.</summary>
    public Task<int> Exit { get; }

    /// <summary>Listening address per target, from the ready lines.</summary>
    public Dictionary<string, IPEndPoint> Forwards { get; } = new(StringComparer.Ordinal);

    public IPEndPoint this[string target] => Forwards[target];

    /// <summary>Environment of a GitHub Actions job whose token endpoint is <paramref name="issuer"/>.</summary>
    public static Dictionary<string, string?> GitHubEnvironment(GitHubActionsPort.Broker.DevIssuer.DevIssuer issuer)
    {
        ArgumentNullException.ThrowIfNull(issuer);
        return new Dictionary<string, string?>
        {
            ["GITHUB_ACTIONS"] = "true",
            ["ACTIONS_ID_TOKEN_REQUEST_URL"] = issuer.RequestUrl,
            ["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = issuer.RequestToken,
        };
    }

    /// <summary>Starts <c>ghaport up</c> and waits until each forward printed its ready line (or the agent exited).</summary>
    public static async Task<AgentUnderTest> StartAsync(
        Uri broker,
        IReadOnlyList<string> forwards,
        IReadOnlyDictionary<string, string?> environment,
        AgentTransport? transport = null,
        IReadOnlyList<string>? extraArgs = null,
        TextWriter? echo = null,
        Func<string, CancellationToken, Task<IPAddress[]>>? resolveHost = null)
    {
        var agent = Run(broker, forwards, environment, transport, extraArgs, echo, resolveHost);
        await agent.WaitReadyAsync(forwards.Count).ConfigureAwait(false);
        return agent;
    }

    /// <summary>
    /// Starts <c>ghaport up</c> without waiting: for runs expected to fail. <paramref name="resolveHost"/>, when given,
    /// resolves the brokers' host names instead of the system (a name for several test brokers).
    /// </summary>
    public static AgentUnderTest Run(
        Uri broker,
        IReadOnlyList<string> forwards,
        IReadOnlyDictionary<string, string?> environment,
        AgentTransport? transport = null,
        IReadOnlyList<string>? extraArgs = null,
        TextWriter? echo = null,
        Func<string, CancellationToken, Task<IPAddress[]>>? resolveHost = null)
    {
        ArgumentNullException.ThrowIfNull(broker);
        ArgumentNullException.ThrowIfNull(forwards);
        ArgumentNullException.ThrowIfNull(environment);
        var args = new List<string> { "up", "--broker", broker.ToString() };
        foreach (var forward in forwards)
        {
            args.Add("--forward");
            args.Add(forward);
        }

        args.AddRange(extraArgs ?? []);
        var output = new LineWriter();
        var error = new LineWriter();
        var logs = new LogSink { Echo = echo };
        // The same filters as the real agent: gRPC's per-message debug records would swamp a busy test.
        var loggerFactory = LoggerFactory.Create(b => b
            .AddProvider(logs)
            .SetMinimumLevel(LogLevel.Debug)
            .AddFilter("Grpc", LogLevel.Warning)
            .AddFilter("System.Net.Http", LogLevel.Warning));
        var context = new AgentContext
        {
            Out = output,
            LoggerFactory = loggerFactory,
            Environment = name => environment.TryGetValue(name, out var value) ? value : null,
            Transport = transport ?? new AgentTransport(),
        };
        if (resolveHost is not null)
        {
            context = context with { ResolveHost = resolveHost };
        }

        var stop = new CancellationTokenSource();
        var exit = Task.Run(async () =>
        {
            try
            {
                return await AgentCommand.RunAsync(args.ToArray(), context, error, stop.Token).ConfigureAwait(false);
            }
            finally
            {
                loggerFactory.Dispose();
            }
        });
        return new AgentUnderTest(stop, output, error, logs, exit);
    }

    /// <summary>Waits for <paramref name="count"/> ready lines; fails with the agent's error output if it exits first.</summary>
    public async Task WaitReadyAsync(int count)
    {
        var ready = Output.WaitForLineAsync(line => line.StartsWith("ready ", StringComparison.Ordinal), count);
        if (await Task.WhenAny(ready, Exit).DefaultTimeout().ConfigureAwait(false) == Exit)
        {
            throw new InvalidOperationException($"The agent exited with {Exit.Result} before it was ready: {string.Join(Environment.NewLine, Error.Lines)}");
        }

        foreach (var line in Output.Lines)
        {
            if (ReadyLine.TryParse(line, out var endPoint, out var target))
            {
                Forwards[target] = endPoint;
            }
        }
    }

    /// <summary>Stops the agent as SIGTERM would and returns its exit code.</summary>
    public async Task<int> StopAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        return await Exit.DefaultTimeout().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (!Exit.IsCompleted)
        {
            await StopAsync().ConfigureAwait(false);
        }

        _stop.Dispose();
    }
}
