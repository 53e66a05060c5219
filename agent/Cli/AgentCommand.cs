using System.Reflection;
using System.Runtime.InteropServices;
using Grpc.Core;
using GitHubActionsPort.Agent.Forwarding;

namespace GitHubActionsPort.Agent.Cli;

/// <summary>The <c>ghaport</c> command line: parses, runs, and turns every failure into one line and an exit code.</summary>
public static class AgentCommand
{
    public const string Usage = """
        Usage:
          ghaport up --broker URL --forward [BIND:]PORT:TARGET [--forward ...]
                     [--audience AUD] [--id-token-file FILE | --id-token-env VAR] [--ttl HH:MM:SS]

        Opens a lease on the named targets and listens on loopback for each forward; prints
        'ready ADDRESS -> TARGET' per forward when it accepts connections. Stop it with Ctrl-C or SIGTERM.

          --broker URL          the broker, e.g. https://broker.internal:8470
          --forward SPEC        [BIND:]PORT:TARGET; BIND defaults to 127.0.0.1, PORT 0 picks a free port
          --audience AUD        audience of the id-token to request (default: ghaport)
          --id-token-file FILE  read the id-token from FILE instead of GitHub Actions
          --id-token-env VAR    read the id-token from environment variable VAR
          --ttl HH:MM:SS        lease length to ask for (the broker caps it)

        Exit codes: 0 stopped, 1 unexpected failure, 2 bad arguments, 3 no id-token, 4 broker unreachable,
                    5 id-token rejected, 6 target denied, 7 cannot listen, 8 lease ended.
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

        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        using var sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, OnSignal);
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
        return await RunAsync(args, context, Console.Error, stop.Token).ConfigureAwait(false);
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

        try
        {
            if (args[0] != "up")
            {
                throw new ArgumentException($"unknown command '{args[0]}'");
            }

            var up = UpArguments.Parse(args[1..]);
            return await AgentRunner.RunAsync(up, context, stopping).ConfigureAwait(false);
        }
        catch (ArgumentException ex)
        {
            await error.WriteLineAsync($"ghaport: {ex.Message}{Environment.NewLine}Run 'ghaport --help' for usage.").ConfigureAwait(false);
            return ExitCodes.Usage;
        }
        catch (AgentException ex)
        {
            await error.WriteLineAsync($"ghaport: {ex.Message}").ConfigureAwait(false);
            return ex.ExitCode;
        }
        catch (Exception ex) when (stopping.IsCancellationRequested && ex is OperationCanceledException or RpcException { StatusCode: StatusCode.Cancelled })
        {
            return ExitCodes.Ok;
        }
        catch (Exception ex)
        {
            await error.WriteLineAsync($"ghaport: unexpected failure: {ex.GetType().Name}: {ex.Message}").ConfigureAwait(false);
            return ExitCodes.Failure;
        }
    }
}
