using System.Net;
using System.Net.Sockets;

namespace GitHubActionsPort.Tests.Faults;

/// <summary>The well-behaved client of the fault suite: a round trip through an echo target, every byte checked.</summary>
internal static class EchoCheck
{
    /// <summary>
    /// Sends <paramref name="size"/> random bytes through <paramref name="endPoint"/> to an echo target, half-closes, and
    /// checks that exactly those bytes came back before a clean end.
    /// </summary>
    public static async Task AssertRoundTripAsync(IPEndPoint endPoint, int size, string because)
    {
        var data = SocketIo.RandomBytes(size);
        using var client = await SocketIo.ConnectAsync(endPoint);
        var reading = client.ReadToEndAsync();
        await client.SendAllAsync(data);
        client.Shutdown(SocketShutdown.Send);
        var echoed = await reading.DefaultTimeout();
        Assert.That(echoed, Has.Length.EqualTo(size), because);
        Assert.That(SocketIo.Sha256(echoed), Is.EqualTo(SocketIo.Sha256(data)), because);
    }
}
