using System.Globalization;
using System.Net;

namespace GitHubActionsPort.Harness.Bench.Routes;

/// <summary>
/// One <c>socat -b 131072 TCP-LISTEN:PORT,reuseaddr,fork,backlog=1024 TCP:NEXT</c> relay on 127.0.0.1, a port from the OS: a
/// plain userspace relay hop, forking one process per connection, to compare a tunnel hop with.
/// </summary>
internal sealed class SocatRelay : IAsyncDisposable
{
    private const string ListeningMarker = " listening on ";

    private readonly ChildProcess _process;

    private SocatRelay(ChildProcess process, IPEndPoint endPoint)
    {
        _process = process;
        EndPoint = endPoint;
    }

    public IPEndPoint EndPoint { get; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>Where socat is, or null when it is not installed.</summary>
    public static string? Find() =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, "socat"))
            .FirstOrDefault(File.Exists);

    /// <summary>Starts a relay to <paramref name="next"/> and waits until it listens.</summary>
    public static async Task<SocatRelay> StartAsync(string socat, IPEndPoint next)
    {
        ArgumentNullException.ThrowIfNull(next);
        // -d -d logs notices, among them "listening on AF=2 127.0.0.1:PORT" with the port the OS picked for port 0.
        // backlog=1024: with socat's default of 5, connections that arrive together (8 streams, pgbench's clients)
        // overflow the accept queue, and each dropped handshake costs a retransmission a second later.
        var process = ChildProcess.StartProgram(socat, ["-d", "-d", "-b", "131072", "TCP-LISTEN:0,bind=127.0.0.1,reuseaddr,fork,backlog=1024", $"TCP:{next}"], name: "socat");
        try
        {
            var line = await process.WaitForErrorAsync(l => l.Contains(ListeningMarker, StringComparison.Ordinal));
            var port = int.Parse(line[(line.LastIndexOf(':') + 1)..], NumberStyles.None, CultureInfo.InvariantCulture);
            return new SocatRelay(process, new IPEndPoint(IPAddress.Loopback, port));
        }
        catch
        {
            await process.DisposeAsync();
            throw;
        }
    }

    /// <summary>Its error and fatal records (socat's E and F levels).</summary>
    public IEnumerable<string> Problems() =>
        _process.Error.Lines.Where(l => l.Contains("] E ", StringComparison.Ordinal) || l.Contains("] F ", StringComparison.Ordinal));

    /// <summary>Kills the relay and every connection's child with it.</summary>
    public ValueTask DisposeAsync() => _process.DisposeAsync();
}
