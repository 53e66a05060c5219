using System.CommandLine;
using System.Runtime.InteropServices;
using Grpc.Core;
using GitHubActionsPort.Agent.Background;
using GitHubActionsPort.Agent.Forwarding;
using GitHubActionsPort.Agent.GitHub;
using GitHubActionsPort.Protocol.CommandLine;

namespace GitHubActionsPort.Agent.Cli;

/// <summary>The <c>ghaport</c> command line: parses, runs, and turns every failure into one line and an exit code.</summary>
public static class AgentCommand
{
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
        var brokers = args.Zip(args.Skip(1)).Where(p => p.First == "--broker").Select(p => p.Second)
            .Concat(args.Where(a => a.StartsWith("--broker=", StringComparison.Ordinal)).Select(a => a["--broker=".Length..]))
            .ToList();
        var broker = brokers.Count == 0 ? "(none given)" : string.Join(", ", brokers);
        log.WriteLine($"{DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm:ss.fff}Z ghaport up (pid {Environment.ProcessId}) started in the background: asking the broker {broker} for a session");
        return log;
    }

    /// <summary>Runs a command line; failures are written to <paramref name="error"/> as one line.</summary>
    public static async Task<int> RunAsync(string[] args, AgentContext context, TextWriter error, CancellationToken stopping)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(error);
        var cli = new AgentCommandLine();
        var invocation = new InvocationConfiguration
        {
            Output = context.Out,
            Error = error,
            // Failures are ours to turn into exit codes, and the process's signals are handled by RunProcessAsync.
            EnableDefaultExceptionHandler = false,
            ProcessTerminationTimeout = null,
        };

        // 'ghaport' alone is a mistake that deserves the overview; 'help' and 'version' read as the flags.
        var none = args.Length == 0;
        args = args switch
        {
            [] => ["--help"],
            ["help", .. var rest] => [.. rest, "--help"],
            ["version"] => ["--version"],
            _ => args,
        };

        cli.Up.SetAction((parsed, token) => UpAsync(UpArguments.From(cli.Up, parsed, args[1..]), context, error, token));
        cli.Down.SetAction((parsed, _) => DownCommand.RunAsync(StateDirArgument.Read(parsed, cli.DownStateDir), context.Environment, context.Out));
        cli.Status.SetAction((parsed, _) => StatusCommand.RunAsync(StateDirArgument.Read(parsed, cli.StatusStateDir), parsed.GetValue(cli.StatusJson), context.Environment, context.Out));
        var result = cli.Parse(args);
        var github = new GitHubWorkflow(context.Environment, context.Out);
        if (result.Errors.Count > 0)
        {
            await error.WriteLineAsync($"{github.FormatError(CommandLineErrors.Describe(result))}{Environment.NewLine}Run '{CommandLineErrors.Path(result.CommandResult)} --help' for usage.").ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        try
        {
            var exitCode = await result.InvokeAsync(invocation, stopping).ConfigureAwait(false);
            return none ? ExitCodes.Usage : exitCode;
        }
        catch (ArgumentException ex)
        {
            await error.WriteLineAsync($"{github.FormatError(ex.Message)}{Environment.NewLine}Run '{CommandLineErrors.Path(result.CommandResult)} --help' for usage.").ConfigureAwait(false);
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

    private static Task<int> UpAsync(UpArguments up, AgentContext context, TextWriter error, CancellationToken stopping) =>
        up.Detach ? DetachedLauncher.RunAsync(up, context, error, stopping) : AgentRunner.RunAsync(up, context, stopping);
}
