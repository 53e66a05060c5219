using GitHubActionsPort.Protocol.Tunnels;

namespace GitHubActionsPort.Protocol.RawLane;

/// <summary>
/// Sends and receives the raw lane's messages on a connection's <see cref="TunnelSocket"/>. A message is read
/// exactly: bytes after it stay in the socket's pipe for the tunnel.
/// </summary>
public static class RawLaneExchange
{
    public static ValueTask SendAsync(TunnelSocket connection, RawLaneMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        return connection.SendAsync(RawLaneFrame.Encode(message), cancellationToken);
    }

    /// <summary>
    /// The next message. Throws <see cref="InvalidDataException"/> for bytes that are not one (the message says
    /// why), and <see cref="EndOfStreamException"/> when the peer closes first.
    /// </summary>
    public static async Task<RawLaneMessage> ReceiveAsync(TunnelSocket connection, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var input = connection.Input;
        while (true)
        {
            var result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            switch (RawLaneFrame.TryRead(ref buffer, out var message, out var error))
            {
                case RawLaneReadStatus.Read:
                    input.AdvanceTo(buffer.Start);
                    return message!;
                case RawLaneReadStatus.Invalid:
                    input.AdvanceTo(buffer.Start);
                    throw new InvalidDataException(error);
                default:
                    // The parser bounds a message's size, so waiting for more holds a few KiB at most.
                    input.AdvanceTo(buffer.Start, buffer.End);
                    if (result.IsCompleted || result.IsCanceled)
                    {
                        throw new EndOfStreamException(buffer.IsEmpty ? "the connection closed" : "the connection closed in the middle of a message");
                    }

                    break;
            }
        }
    }
}
