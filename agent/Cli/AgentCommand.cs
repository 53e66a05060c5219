using System.Reflection;
using System.Runtime.InteropServices;
using Grpc.Core;
using GitHubActionsPort.Agent.Background;
using GitHubActionsPort.Agent.Forwarding;
using GitHubActionsPort.Agent.GitHub;

namespace GitHubActionsPort.Agent.Cli;

/// <summary>The <c>ghaport</c> command line: parses, runs, and turns every failure into one line and an exit code.</summary>
public static class AgentCommand
{
    public const string Usage = """
        Usage:
          ghaport up --broker URL --forward [BIND:]PORT:TARGET [--forward ...]
                     [--audience AUD] [--id-token-file FILE | --id-token-env VAR] [--ttl HH:MM:SS]
                     [--lane auto|raw|grpc] [--detach [--timeout 60s] [--no-probe]] [--state-dir DIR]
                     [--allow-remote-clients] [--allow-any-local-user]
          ghaport down   [--state-dir DIR]
          ghaport status [--json] [--state-dir DIR]

        'up' opens a lease on the named targets and listens on loopback for each forward; it prints
        'ready ADDRESS -> TARGET' per forward when it accepts connections. Stop it with Ctrl-C or SIGTERM,
        or, with --detach, with 'ghaport down'.

          --broker URL          the broker, e.g. https://broker.internal:8470
          --forward SPEC        [BIND:]PORT:TARGET; BIND defaults to 127.0.0.1, PORT 0 picks a free port
          --audience AUD        audience of the id-token to request (default: ghaport)
          --id-token-file FILE  read the id-token from FILE instead of GitHub Actions
          --id-token-env VAR    read the id-token from environment variable VAR
          --ttl HH:MM:SS        lease length to ask for (the broker caps it)
          --lane LANE           how tunnels reach the broker: raw (a TCP/TLS connection each, fastest),
                                grpc (a stream each on one HTTP/2 channel, passes HTTP/2 proxies), or
                                auto (default: raw when the broker offers it and it answers, else grpc)
          --detach              run in the background; return once every target answers through the broker
          --timeout DURATION    how long --detach waits for that (default 60s)
          --no-probe            with --detach, do not dial the targets first (only the forwards must listen)
          --state-dir DIR       where a background agent keeps its control socket and log
                                (default: $RUNNER_TEMP/ghaport in GitHub Actions, else the temp folder)
          --allow-remote-clients  let a forward listen on an address other machines can reach
          --allow-any-local-user  on Linux, serve every local user, not only this one and root

        Exit codes: 0 stopped, 1 unexpected failure, 2 bad arguments, 3 no id-token, 4 broker unreachable,
                    5 id-token rejected, 6 target denied, 7 cannot listen, 8 lease ended, 9 not ready.
        """;

    /// <summary>Entry point of the process: real console, real environment, signals stop it.</summary>
    public static async Task<int> RunProcessAsync(string[] args)
    {
        using var stop = new CancellationTokenSource();
        void OnSignal(PosixSignalContext signal)
        {
            signal.Cancel = true;
            stop.Cancel();
        }

        var signals = AgentPlatform.Current.StopSignals.Select(s => PosixSignalRegistration.Create(s, OnSignal)).ToList();
        try
        {
            // A background agent's standard streams belong to the step that started it, and only until it is
            // ready: its log goes to a file in its state folder from the start.
            var error = Console.Error;
            using var log = OpenBackgroundLog(args);
            if (log is not null)
            {
                error = new StreamWriter(Console.OpenStandardError()) { AutoFlush = true };
                Console.SetError(log);
            }

            using var loggerFactory = LoggerFactory.Create(logging => logging
                .SetMinimumLevel(LogLevel.Information)
                .AddFilter("Grpc", LogLevel.Warning)
                .AddFilter("System.Net.Http", LogLevel.Warning)
                .AddSimpleConsole(o =>
                {
                    o.SingleLine = true;
                    o.TimestampFormat = "HH:mm:ss.fff ";
                })
                .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace));

            var context = new AgentContext { Out = Console.Out, LoggerFactory = loggerFactory };
            return await RunAsync(args, context, error, stop.Token).ConfigureAwait(false);
        }
        finally
        {
            foreach (var signal in signals)
            {
                signal.Dispose();
            }
        }
    }

    /// <summary>The log file of a background agent (<c>up --background</c>), or null for any other run.</summary>
    private static StreamWriter? OpenBackgroundLog(string[] args)
    {
        if (args is not ["up", ..] || !args.Contains("--background"))
        {
            return null;
        }

        var named = args.SkipWhile(a => a != "--state-dir").Skip(1).FirstOrDefault();
        var state = StateDirectory.Resolve(named, Environment.GetEnvironmentVariable, create: true);
        var stream = new FileStream(state.LogFile, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
        var log = new StreamWriter(stream) { AutoFlush = true };
        // Written (and flushed) before anything can hang: the log the launcher names always holds this run's start,
        // even when the broker never answers and the run is stopped before its first log line.
        var broker = args.SkipWhile(a => a != "--broker").Skip(1).FirstOrDefault() ?? args.FirstOrDefault(a => a.StartsWith("--broker=", StringComparison.Ordinal))?["--broker=".Length..];
        log.WriteLine($"{DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm:ss.fff}Z ghaport up (pid {Environment.ProcessId}) started in the background: asking the broker {broker ?? "(none given)"} for a session");
        return log;
    }

    /// <summary>Runs a command line; failures are written to <paramref name="error"/> as one line.</summary>
    public static async Task<int> RunAsync(string[] args, AgentContext context, TextWriter error, CancellationToken stopping)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(error);
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            await context.Out.WriteLineAsync(Usage).ConfigureAwait(false);
            return args.Length == 0 ? ExitCodes.Usage : ExitCodes.Ok;
        }

        if (args[0] is "--version" or "version")
        {
            var version = typeof(AgentCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";
            await context.Out.WriteLineAsync($"ghaport {version}").ConfigureAwait(false);
            return ExitCodes.Ok;
        }

        var github = new GitHubWorkflow(context.Environment, context.Out);
        try
        {
            return args[0] switch
            {
                "up" when UpArguments.Parse(args[1..]) is { Detach: true } detached => await DetachedLauncher.RunAsync(detached, context, error, stopping).ConfigureAwait(false),
                "up" => await AgentRunner.RunAsync(UpArguments.Parse(args[1..]), context, stopping).ConfigureAwait(false),
                "down" => await DownCommand.RunAsync(args[1..], context.Environment, context.Out).ConfigureAwait(false),
                "status" => await StatusCommand.RunAsync(args[1..], context.Environment, context.Out).ConfigureAwait(false),
                _ => throw new ArgumentException($"unknown command '{args[0]}'"),
            };
        }
        catch (ArgumentException ex)
        {
            await error.WriteLineAsync($"{github.FormatError(ex.Message)}{Environment.NewLine}Run 'ghaport --help' for usage.").ConfigureAwait(false);
            return ExitCodes.Usage;
        }
        catch (AgentException ex)
        {
            await error.WriteLineAsync(github.FormatError(ex.Message)).ConfigureAwait(false);
            return ex.ExitCode;
        }
        catch (Exception ex) when (stopping.IsCancellationRequested && ex is OperationCanceledException or RpcException { StatusCode: StatusCode.Cancelled })
        {
            return ExitCodes.Ok;
        }
        catch (Exception ex)
        {
            await error.WriteLineAsync(github.FormatError($"unexpected failure: {ex.GetType().Name}: {ex.Message}")).ConfigureAwait(false);
            return ExitCodes.Failure;
        }
    }
}
