using System.Net.Sockets;

namespace GitHubActionsPort.Tests;

/// <summary>Bytes, ends and resets cross the tunnel as if there were no tunnel.</summary>
public sealed class TunnelTransparencyTests : TunnelFixture
{
    [Test]
    public async Task RandomBytesBothWays_ArriveIntact()
    {
        await using var agent = await StartAgentAsync("echo");
        const int size = 64 * 1024 * 1024;
        var data = SocketIo.RandomBytes(size);

        using var client = await SocketIo.ConnectAsync(agent["echo"]);
        var reading = client.ReadToEndAsync();
        await client.SendAllAsync(data);
        client.Shutdown(SocketShutdown.Send);
        var echoed = await reading.DefaultTimeout();

        Assert.That(echoed, Has.Length.EqualTo(size));
        Assert.That(SocketIo.Sha256(echoed), Is.EqualTo(SocketIo.Sha256(data)));
    }
}
