using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using GitHubActionsPort.Harness.Output;

namespace GitHubActionsPort.Harness.Demo;

/// <summary>Proves the tunnel with an echo server: every byte comes back, in order, and how fast.</summary>
internal static class EchoProof
{
    private const int MiB = 1024 * 1024;
    private static readonly TimeSpan IntegrityTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan ThroughputTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Random bytes out and back, compared by SHA-256: nothing lost, added, reordered or altered.</summary>
    public static async Task VerifyIntegrityAsync(IPEndPoint forward, int size, Narrator narrator, CancellationToken stopping)
    {
        ArgumentNullException.ThrowIfNull(narrator);
        narrator.Step("client", $"sending {size / MiB} MiB of random bytes to {forward}, the agent's port; the echo server returns them");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        timeout.CancelAfter(IntegrityTimeout);

        var data = SocketIo.RandomBytes(size);
        using var socket = await SocketIo.ConnectAsync(forward);
        var reading = socket.ReadToEndAsync(timeout.Token);
        await SocketTransfers.SendRepeatedAsync(socket, data, data.Length, timeout.Token);
        // Half-close: the echo server answers our FIN with its own once it has returned everything.
        socket.Shutdown(SocketShutdown.Send);
        var echoed = await reading;

        var sentHash = SocketIo.Sha256(data);
        var echoedHash = SocketIo.Sha256(echoed);
        narrator.Detail($"sent     {data.Length,12:N0} bytes, SHA-256 {sentHash}");
        narrator.Detail($"received {echoed.Length,12:N0} bytes, SHA-256 {echoedHash}");
        if (echoed.Length != data.Length || sentHash != echoedHash)
        {
            throw new InvalidDataException($"the echo differs from what was sent: {data.Length:N0} bytes out, {echoed.Length:N0} back, hashes {(sentHash == echoedHash ? "equal" : "different")}");
        }

        narrator.Detail("identical: every byte crossed the tunnel both ways, in order");
    }

    /// <summary>A larger full-duplex echo, timed: the same bytes flow out and back at once, each way at the reported rate.</summary>
    public static async Task MeasureThroughputAsync(IPEndPoint forward, long size, Narrator narrator, CancellationToken stopping)
    {
        ArgumentNullException.ThrowIfNull(narrator);
        narrator.Step("client", $"pushing {size / MiB} MiB through the echo target and timing it (sending and receiving at once)");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        timeout.CancelAfter(ThroughputTimeout);

        var block = SocketIo.RandomBytes(MiB);
        var check = new RepeatedBlockCheck(block);
        var buffer = new byte[256 * 1024];
        using var socket = await SocketIo.ConnectAsync(forward);
        var started = Stopwatch.GetTimestamp();
        var receiving = SocketTransfers.ReceiveToEndAsync(socket, buffer, check.Check, timeout.Token);
        await SocketTransfers.SendRepeatedAsync(socket, block, size, timeout.Token);
        socket.Shutdown(SocketShutdown.Send);
        var received = await receiving;
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;

        if (received != size)
        {
            throw new InvalidDataException($"the echo differs in length: {size:N0} bytes out, {received:N0} back");
        }

        if (check.FirstMismatchAt is { } mismatch)
        {
            throw new InvalidDataException($"the echo differs from what was sent in the chunk at byte {mismatch:N0}");
        }

        narrator.Detail($"{size / MiB} MiB out and the same {size / MiB} MiB back in {seconds:0.00} s: {size / seconds / 1e6:0} MB/s each way, every byte checked");
    }
}
