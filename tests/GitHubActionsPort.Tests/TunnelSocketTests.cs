using System.Net.Sockets;
using GitHubActionsPort.Protocol.Tunnels;

namespace GitHubActionsPort.Tests;

/// <summary>
/// Linux reports a reset once, to whichever call asks first: a relay whose send took it must still tell the reset
/// from a clean end when its receive then reads end of stream.
/// </summary>
public sealed class TunnelSocketTests
{
    [Test]
    public async Task ResetTakenBySend_EndOfStreamIsKnownForAReset()
    {
        Assume.That(OperatingSystem.IsLinux(), "the kernel behaviour and the check are Linux's");
        var (near, far) = await SocketIo.ConnectedPairAsync();
        await using var socket = new TunnelSocket(near);
        far.LingerState = new LingerOption(true, 0);
        far.Dispose();
        await ArrivedAsync(near);

        // The send takes the reset; the receive after it sees only an end of stream.
        Assert.That(() => near.Send(new byte[1]), Throws.InstanceOf<SocketException>());
        Assert.That(near.Receive(new byte[1]), Is.Zero);

        Assert.That(socket.EndWasReset(), Is.True);
    }

    [Test]
    public async Task HalfClose_EndOfStreamIsClean_AndStaysCleanAfterOurOwnHalfClose()
    {
        var (near, far) = await SocketIo.ConnectedPairAsync();
        using var peer = far;
        await using var socket = new TunnelSocket(near);
        far.Shutdown(SocketShutdown.Send);
        await ArrivedAsync(near);

        Assert.That(near.Receive(new byte[1]), Is.Zero);
        Assert.That(socket.EndWasReset(), Is.False, "a FIN is a clean end");

        await socket.ShutdownSendAsync();
        Assert.That(far.Receive(new byte[1]), Is.Zero);
        Assert.That(socket.EndWasReset(), Is.False, "both FINs exchanged is still a clean end");
    }

    /// <summary>Waits (bounded) until what the peer did has reached the socket: it reads as ready.</summary>
    private static async Task ArrivedAsync(Socket socket)
    {
        using var deadline = new CancellationTokenSource(TaskTimeouts.Default);
        await socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.Peek, deadline.Token).AsTask().ContinueWith(_ => { }, TaskScheduler.Default);
        Assert.That(deadline.IsCancellationRequested, Is.False, "the peer's close never arrived");
    }
}
