using System.Net.Sockets;
using Npgsql;

namespace GitHubActionsPort.Broker.Store;

/// <summary>
/// Says why a call to PostgreSQL failed, naming the server and the cause and never the connection string: the
/// password is scrubbed from whatever a driver or server message might echo.
/// </summary>
internal sealed class PostgresFailure(string server, string? password)
{
    /// <summary><c>host:port</c>, for messages.</summary>
    public string Server { get; } = server;

    public StoreUnavailableException Unavailable(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        var message = IsConnectionLost(exception)
            ? $"cannot reach PostgreSQL at {Server}: {Cause(exception)}"
            : $"PostgreSQL at {Server} refused the call: {Cause(exception)}";

        // The inner exception is left out as well: a driver's own text is not ours to vouch for.
        return new StoreUnavailableException(message);
    }

    /// <summary>
    /// Whether the server could not be reached or went away (no answer, a socket error, a connection-class error,
    /// or the server shutting down: SQLSTATE 08xxx and 57Pxx), rather than answering the call with an error.
    /// </summary>
    public static bool IsConnectionLost(Exception exception) =>
        Find<PostgresException>(exception) is not { } server
        || server.SqlState.StartsWith("08", StringComparison.Ordinal)
        || server.SqlState.StartsWith("57P", StringComparison.Ordinal);

    /// <summary>The cause in a few words: the server's own message, or the socket's, or the innermost exception's.</summary>
    public string Cause(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        string cause;
        if (Find<PostgresException>(exception) is { } server)
        {
            cause = $"{server.MessageText} (SQLSTATE {server.SqlState})";
        }
        else if (Find<SocketException>(exception) is { } socket)
        {
            cause = socket.Message;
        }
        else if (Find<TimeoutException>(exception) is not null)
        {
            cause = "no answer in time";
        }
        else
        {
            var innermost = exception;
            while (innermost.InnerException is not null)
            {
                innermost = innermost.InnerException;
            }

            cause = innermost.Message;
        }

        return Scrub(cause.TrimEnd('.'));
    }

    private string Scrub(string text) =>
        string.IsNullOrEmpty(password) ? text : text.Replace(password, "***", StringComparison.Ordinal);

    private static T? Find<T>(Exception exception)
        where T : Exception
    {
        for (Exception? e = exception; e is not null; e = e.InnerException)
        {
            if (e is T found)
            {
                return found;
            }
        }

        return null;
    }
}
