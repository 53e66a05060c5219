using GitHubActionsPort.Harness.Bench;
using GitHubActionsPort.Harness.Demo;
using GitHubActionsPort.Harness.LaneCost;

namespace GitHubActionsPort.Harness;

/// <summary>
/// <c>ghaport-harness</c>: picks the command, turns Ctrl-C into an orderly stop (so a throwaway PostgreSQL cluster
/// or an agent process is not left behind), and maps every outcome to an exit code.
/// </summary>
internal static class Program
{
    private const int Ok = 0;
    private const int Failed = 1;
    private const int UsageError = 2;
    private const int Interrupted = 130;

    private const string Usage = """
        Usage:
          ghaport-harness demo  [--target auto|postgres|echo]
          ghaport-harness bench [--quick] [--json PATH] [--agent process|in-process]
          ghaport-harness lane-cost [--mib N] [--runs N] [--lane h2c|tls] [--direction upload|download] [--baseline DLL]

        demo   Runs a development OIDC issuer, a target, a broker and the real ghaport agent process on this
               machine, and proves the tunnel: SQL through it when PostgreSQL is installed, else checksummed
               bytes through an echo server. Needs nothing but the .NET SDK.
                 --target   auto (default): PostgreSQL when installed, else echo; postgres: fail without it.

        bench  Measures throughput, round-trip latency and connection rate through the tunnel and direct to the
               same targets, in the same run, and prints tunnel/direct ratios against the performance goals.
                 --quick    small sizes, for a smoke run
                 --json     also write the results as JSON to PATH
                 --agent    process (default): ghaport as a child process, as on a runner;
                            in-process: the same agent code inside the harness

        lane-cost  What TLS costs the gRPC lane: one tunnel, bulk upload then download, over h2c and over TLS to
               one broker process, lanes alternating; prints MB/s and CPU seconds per GB of broker and agent.
                 --mib      MiB per transfer (default 1024)
                 --runs     rounds, each every lane both ways (default 3)
                 --lane     h2c or tls only; --direction upload or download only (to trace one)
                 --baseline another build's ghaport-broker.dll, measured in the same run (lanes h2c-base, tls-base)

        Exit codes: 0 done, 1 failed, 2 bad arguments, 130 interrupted.
        """;

    public static async Task<int> Main(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            Console.WriteLine(Usage);
            return args.Length == 0 ? UsageError : Ok;
        }

        IHarnessCommand command;
        try
        {
            command = args[0] switch
            {
                "demo" => new DemoCommand(DemoOptions.Parse(args[1..]), Console.Out, Console.Error),
                "bench" => new BenchCommand(BenchOptions.Parse(args[1..]), Console.Out, Console.Error),
                "lane-cost" => new LaneCostCommand(LaneCostOptions.Parse(args[1..]), Console.Out, Console.Error),
                _ => throw new UsageException($"unknown command '{args[0]}'"),
            };
        }
        catch (UsageException ex)
        {
            await Console.Error.WriteLineAsync($"ghaport-harness: {ex.Message}{Environment.NewLine}{Environment.NewLine}{Usage}");
            return UsageError;
        }

        using var stopping = new CancellationTokenSource();
        void OnCancelKeyPress(object? sender, ConsoleCancelEventArgs e)
        {
            // The first Ctrl-C stops in order, leaving no PostgreSQL cluster or agent process behind; a second kills.
            e.Cancel = !stopping.IsCancellationRequested;
            stopping.Cancel();
        }

        Console.CancelKeyPress += OnCancelKeyPress;
        try
        {
            return await command.RunAsync(stopping.Token) ? Ok : Failed;
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            await Console.Error.WriteLineAsync($"ghaport-harness: {args[0]} interrupted.");
            return Interrupted;
        }
        finally
        {
            Console.CancelKeyPress -= OnCancelKeyPress;
        }
    }
}
