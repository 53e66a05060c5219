using System.Net.Sockets;
using System.Text;

namespace GitHubActionsPort.Agent.Background;

/// <summary>
/// The background agent's end of <c>ghaport status</c> and <c>ghaport down</c>: a Unix domain socket in the
/// owner-only state folder (Windows has them too), one short request line per connection, one reply.
/// </summary>
internal sealed partial class ControlServer : IAsyncDisposable
{
    public const string StatusRequest = "status";
    public const string DownRequest = "down";

    private const int MaxRequestLength = 64;

    private readonly Socket _listener;
    private readonly string _path;
    private readonly Func<string> _status;
    private readonly Func<Task<string>> _down;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _serving;

    private ControlServer(Socket listener, string path, Func<string> status, Func<Task<string>> down, ILogger logger)
    {
        _listener = listener;
        _path = path;
        _status = status;
        _down = down;
        _logger = logger;
        _serving = ServeAsync();
    }

    /// <summary>Listens at <paramref name="path"/>; <paramref name="status"/> and <paramref name="down"/> make the replies.</summary>
    public static ControlServer Start(string path, Func<string> status, Func<Task<string>> down, ILogger logger)
    {
        // A socket file left by an agent that was killed would block the bind; a live agent was ruled out before.
        File.Delete(path);
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(path));
            listener.Listen(8);
            return new ControlServer(listener, path, status, down, logger);
        }
        catch
        {
            listener.Dispose();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        await _serving.ConfigureAwait(false);
        _stopping.Dispose();
        File.Delete(_path);
    }

    private async Task ServeAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket connection;
            try
            {
                connection = await _listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            // One request at a time is plenty for a status or a stop, and keeps the replies simple.
            using (connection)
            {
                try
                {
                    await AnswerAsync(connection).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException)
                {
                    Log.ControlRequestFailed(_logger, ex.Message);
                }
            }
        }
    }

    private async Task AnswerAsync(Socket connection)
    {
        // Not linked to _stopping: a 'down' request stops the agent, and its reply must still go out.
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        var buffer = new byte[MaxRequestLength];
        var read = 0;
        while (read < buffer.Length && Array.IndexOf(buffer, (byte)'\n', 0, read) < 0)
        {
            var n = await connection.ReceiveAsync(buffer.AsMemory(read), timeout.Token).ConfigureAwait(false);
            if (n == 0)
            {
                break;
            }

            read += n;
        }

        var request = Encoding.ASCII.GetString(buffer, 0, read).Trim();
        var reply = request switch
        {
            StatusRequest => _status(),
            DownRequest => await _down().ConfigureAwait(false),
            _ => "{\"error\":\"unknown request\"}",
        };
        await connection.SendAsync(Encoding.UTF8.GetBytes(reply + "\n"), timeout.Token).ConfigureAwait(false);
        connection.Shutdown(SocketShutdown.Send);
    }

    private static partial class Log
    {
        [LoggerMessage(60, LogLevel.Warning, "A control request failed: {Reason}", EventName = "ControlRequestFailed")]
        public static partial void ControlRequestFailed(ILogger logger, string reason);
    }
}
