using System.Net.Sockets;

namespace GitHubActionsPort.TestSupport;

/// <summary>
/// A target that sends each connection <see cref="BytesPerConnection"/> bytes of <see cref="Pattern"/> as fast as the far
/// side takes them, then half-closes and waits for the far side to finish. Each connection reports how much it has
/// sent, when it stalled and how it ended, so a test can see backpressure reach all the way back to the target.
/// </summary>
public sealed class Firehose : IAsyncDisposable
{
    private readonly TcpTestServer _server;
    private readonly Sightings<FirehoseConnection> _connections = new();

    /// <param name="bytesPerConnection">What each connection is sent before the target half-closes.</param>
    /// <param name="stallAfter">How long one send must stay blocked to count as a stall. Default: 1 second.</param>
    public Firehose(long bytesPerConnection, TimeSpan? stallAfter = null)
    {
        BytesPerConnection = bytesPerConnection;
        StallAfter = stallAfter ?? TimeSpan.FromSeconds(1);
        _server = new TcpTestServer(RunAsync);
    }

    public long BytesPerConnection { get; }

    public TimeSpan StallAfter { get; }

    public BytePattern Pattern { get; } = new();

    /// <summary>The value for <c>Broker:Targets:NAME</c>.</summary>
    public string Address => _server.Address;

    public int AcceptedCount => _server.AcceptedCount;

    /// <summary>The <paramref name="occurrence"/>-th connection accepted, past or future.</summary>
    public Task<FirehoseConnection> ConnectionAsync(int occurrence = 1) => _connections.WaitForAsync(_ => true, occurrence);

    public ValueTask DisposeAsync() => _server.DisposeAsync();

    private Task RunAsync(Socket socket, CancellationToken cancellationToken)
    {
        var connection = new FirehoseConnection();
        _connections.Add(connection);
        return connection.RunAsync(socket, Pattern, BytesPerConnection, StallAfter, cancellationToken);
    }
}
