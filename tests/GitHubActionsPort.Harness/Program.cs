using GitHubActionsPort.Harness.Bench;
using GitHubActionsPort.Harness.Bench.Routes;
using GitHubActionsPort.Harness.Demo;
using GitHubActionsPort.Harness.Image;
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
          ghaport-harness bench [--quick] [--routes LIST] [--scenarios LIST] [--json PATH] [--agent process|in-process]
          ghaport-harness lane-cost [--mib N] [--runs N] [--lane h2c|tls] [--direction upload|download] [--baseline DLL]
          ghaport-harness image [--output FILE] [--version X.Y.Z]

        demo   Runs a development OIDC issuer, a target, a broker and the real ghaport agent process on this
               machine, and proves the tunnel: SQL through it when PostgreSQL is installed, else checksummed
               bytes through an echo server. Needs nothing but the .NET SDK.
                 --target   auto (default): PostgreSQL when installed, else echo; postgres: fail without it.

        bench  Measures each scenario over each route in one run and prints the values, each route over direct
               and over the socat chain, and the performance goals (informational).
                 --routes     comma-separated, of: direct, socat, grpc-h2c, grpc-tls, raw-plain, raw-tls
                              (default: all; direct is always measured, every ratio is taken against it)
                 --scenarios  comma-separated, of: throughput (1 and 8 streams each way, CPU s/GB of agent
                              and broker), rtt (1-byte echo p50/p99), connect (new tunnels/s), idle (broker
                              RSS per idle tunnel at 1,000 and 10,000), pgbench (pgbench -S TPS), stores
                              (default: all of these); startup (size and time to ready of the
                              framework-dependent, single-file and Native AOT agent, each published first:
                              minutes; only when named, e.g. --scenarios startup --routes direct)
                 --quick      small sizes and 1,000 idle tunnels only, for a smoke run
                 --json       where to write the results (default: bench/results/<UTC timestamp>.json)
                 --agent      process (default): ghaport as a child process, as on a runner;
                              in-process: the same agent code inside the harness (no agent CPU figure)
               A route that cannot start (socat not installed, a lane this build lacks) is reported and
               skipped; the bench still exits 0.

        idle-echo  The bench's idle-tunnel echo target in a process of its own (started by bench; prints
               "listening 127.0.0.1:PORT" and echoes until stopped).

        lane-cost  What TLS costs the gRPC lane: one tunnel, bulk upload then download, over h2c and over TLS to
               one broker process, lanes alternating; prints MB/s and CPU seconds per GB of broker and agent.
                 --mib      MiB per transfer (default 1024)
                 --runs     rounds, each every lane both ways (default 3)
                 --lane     h2c or tls only; --direction upload or download only (to trace one)
                 --baseline another build's ghaport-broker.dll, measured in the same run (lanes h2c-base, tls-base)

        image  Builds the broker's OCI image to a tarball with the SDK's container support (dotnet publish
               -t:PublishContainer, self-contained, for this host's architecture) on a base image made from this
               host's Debian packages (libc6, libgcc-s1, libstdc++6, libssl3, zlib1g, ca-certificates, tzdata;
               fetched once with apt-get download into artifacts/image-base) and served by a registry on
               loopback, in place of mcr.microsoft.com/dotnet/runtime-deps, which it cannot reach. Linux only.
                 --output   the tarball (default artifacts/release/ghaport-broker-image.tar.gz)
                 --version  the image's version (default: the project's)

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
                IdleEchoCommand.Name when args.Length == 1 => new IdleEchoCommand(Console.Out, Console.Error),
                "image" => new ImageCommand(ImageOptions.Parse(args[1..]), Console.Out, Console.Error),
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
