using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace GitHubActionsPort.Harness.Bench.Scenarios;

/// <summary>
/// The two bulk-transfer exchanges of the bench, both ends of each, so that one direction is measured at a time:
/// <list type="bullet">
/// <item>upload: the client sends N bytes and half-closes; the sink counts them and answers with the count as
/// 8 bytes little-endian, then closes. The client's clock stops at the answer, so every byte has arrived.</item>
/// <item>download: the client sends N as 8 bytes little-endian; the source sends N bytes and closes. The client's
/// clock stops at the source's FIN. The client does not half-close first: socat, the peer baseline, ends a
/// half-closed connection half a second later (its <c>-t</c> default), which would cut a long download short.</item>
/// </list>
/// Byte content does not matter (nothing on the path compresses); counts are checked at both ends.
/// </summary>
internal static class BulkProtocol
{
    private const int BufferSize = 256 * 1024;

    // Shared read-only by every sender; random so that no layer could ever get away with cheap compression.
    private static readonly byte[] Payload = RandomNumberGenerator.GetBytes(BufferSize);

    /// <summary>Server end of an upload.</summary>
    public static async Task SinkAsync(Socket socket, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(socket);
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            var count = await SocketTransfers.ReceiveToEndAsync(socket, buffer, null, cancellationToken);
            var answer = new byte[sizeof(long)];
            BinaryPrimitives.WriteInt64LittleEndian(answer, count);
            await socket.SendAsync(answer, SocketFlags.None, cancellationToken);
            socket.Shutdown(SocketShutdown.Send);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Server end of a download.</summary>
    public static async Task SourceAsync(Socket socket, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(socket);
        var request = await socket.ReadExactlyAsync(sizeof(long), cancellationToken);
        var count = BinaryPrimitives.ReadInt64LittleEndian(request);
        await SocketTransfers.SendRepeatedAsync(socket, Payload, count, cancellationToken);
        socket.Shutdown(SocketShutdown.Send);
    }

    /// <summary>Client end of an upload of <paramref name="count"/> bytes.</summary>
    public static async Task UploadAsync(Socket socket, long count, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(socket);
        await SocketTransfers.SendRepeatedAsync(socket, Payload, count, cancellationToken);
        socket.Shutdown(SocketShutdown.Send);
        var answer = await socket.ReadExactlyAsync(sizeof(long), cancellationToken);
        var counted = BinaryPrimitives.ReadInt64LittleEndian(answer);
        if (counted != count)
        {
            throw new InvalidDataException($"uploaded {count:N0} bytes, the sink counted {counted:N0}");
        }
    }

    /// <summary>Client end of a download of <paramref name="count"/> bytes.</summary>
    public static async Task DownloadAsync(Socket socket, long count, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(socket);
        var request = new byte[sizeof(long)];
        BinaryPrimitives.WriteInt64LittleEndian(request, count);
        await socket.SendAsync(request, SocketFlags.None, cancellationToken);

        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            var received = await SocketTransfers.ReceiveToEndAsync(socket, buffer, null, cancellationToken);
            if (received != count)
            {
                throw new InvalidDataException($"asked for {count:N0} bytes, received {received:N0}");
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
