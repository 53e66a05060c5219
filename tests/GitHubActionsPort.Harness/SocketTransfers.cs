using System.Net.Sockets;

namespace GitHubActionsPort.Harness;

/// <summary>
/// Bulk socket chores with bounded buffers: the harness moves hundreds of MiB without ever holding them, sending
/// one block over and over and receiving into one reused buffer.
/// </summary>
internal static class SocketTransfers
{
    /// <summary>Sends <paramref name="count"/> bytes made of <paramref name="block"/> repeated, the last copy cut short.</summary>
    public static async Task SendRepeatedAsync(Socket socket, ReadOnlyMemory<byte> block, long count, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(socket);
        var remaining = count;
        while (remaining > 0)
        {
            var chunk = block[..(int)Math.Min(block.Length, remaining)];
            while (!chunk.IsEmpty)
            {
                var sent = await socket.SendAsync(chunk, SocketFlags.None, cancellationToken);
                chunk = chunk[sent..];
                remaining -= sent;
            }
        }
    }

    /// <summary>
    /// Receives until the peer's FIN and returns how many bytes came; <paramref name="inspect"/>, when given, sees
    /// each chunk in order before the buffer is reused.
    /// </summary>
    public static async Task<long> ReceiveToEndAsync(Socket socket, Memory<byte> buffer, Action<ReadOnlyMemory<byte>>? inspect, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(socket);
        long total = 0;
        while (true)
        {
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
            if (read == 0)
            {
                return total;
            }

            inspect?.Invoke(buffer[..read]);
            total += read;
        }
    }
}
