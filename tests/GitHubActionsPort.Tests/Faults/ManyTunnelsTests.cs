using System.Net.Sockets;

namespace GitHubActionsPort.Tests.Faults;

/// <summary>A thousand tunnels open at once, each carrying its own bytes both ways, none lost or crossed.</summary>
[TestFixture("raw")]
[TestFixture("grpc")]
public sealed class ManyTunnelsTests(string lane) : FaultFixture(lane)
{
    private const int Tunnels = 1000;
    private const int BytesEachWay = 64 * 1024;

    protected override void Configure(Dictionary<string, string?> configuration)
    {
        base.Configure(configuration);
        // The rule's cap (default 16) is the lease's; the broker-wide Transport:MaxTunnels (default 10,000) has room.
        configuration["Broker:Rules:0:MaxConnections"] = Tunnels.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    [Test]
    public async Task ThousandConcurrentTunnels_EachMoves64KiBBothWays_AllIntact()
    {
        await using var agent = await StartFaultAgentAsync("echo");
        var leaseId = (await agent.Logs.WaitForAsync(e => e.EventId.Name == "SessionOpened").DefaultTimeout()).Message.Split(' ').First(w => w.StartsWith("lse_", StringComparison.Ordinal));
        var allOpen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var open = 0;

        async Task<bool> TunnelAsync(int i)
        {
            var data = SocketIo.RandomBytes(BytesEachWay);
            using var client = await SocketIo.ConnectAsync(agent["echo"]);
            // The first byte back proves this tunnel open end to end; it then waits until all of them are.
            await client.SendAllAsync(data.AsMemory(0, 1));
            var first = await client.ReadExactlyAsync(1);
            if (Interlocked.Increment(ref open) == Tunnels)
            {
                allOpen.TrySetResult();
            }

            await allOpen.Task;
            var reading = client.ReadToEndAsync();
            await client.SendAllAsync(data.AsMemory(1));
            client.Shutdown(SocketShutdown.Send);
            byte[] echoed = [.. first, .. await reading];
            return echoed.AsSpan().SequenceEqual(data);
        }

        var intact = await Task.WhenAll(Enumerable.Range(0, Tunnels).Select(i => Task.Run(() => TunnelAsync(i)))).DefaultTimeout();

        Assert.That(open, Is.EqualTo(Tunnels), "every tunnel was open at the same time");
        Assert.That(intact.Count(ok => !ok), Is.Zero, "tunnels whose echo differed from what they sent");
        Assert.That(Broker.Logs.Entries.Count(e => e.EventId.Name == "TunnelOpened" && e.Message.Contains(leaseId + "/", StringComparison.Ordinal)), Is.EqualTo(Tunnels), "one broker tunnel per connection");
        Assert.That(agent.Logs.Entries.Where(e => e.EventId.Name == "TunnelRefused"), Is.Empty, "no connection was refused");
        Assert.That(agent.Logs.Errors, Is.Empty);
    }
}
