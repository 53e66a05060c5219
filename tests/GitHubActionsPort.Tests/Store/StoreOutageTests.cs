using System.Net;
using GitHubActionsPort.Broker.DevIssuer;
using GitHubActionsPort.Broker.Store;
using GitHubActionsPort.Protocol;
using GitHubActionsPort.Protocol.RawLane;
using GitHubActionsPort.Tests.RawLane;
using GitHubActionsPort.Protocol.V1;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using BrokerClient = GitHubActionsPort.Protocol.V1.Broker.BrokerClient;

namespace GitHubActionsPort.Tests.Store;

/// <summary>
/// The state store going away under a running broker: new sessions and tunnels are refused with the cause, open
/// tunnels keep carrying bytes until <c>Broker:Store:MaxStaleness</c>, then end with the reason; <c>/healthz</c> says
/// so; and when the store returns the broker serves again without a restart. A store wrapper stands in for the
/// outage in process (the process tests stop a real PostgreSQL).
/// </summary>
public sealed class StoreOutageTests
{
    private const int MaxStalenessSeconds = 8;

    [Test]
    public async Task StoreUnreachable_RefusesNewWork_EndsOpenTunnelsAtMaxStaleness_AndRecoversWithoutRestart()
    {
        await using var issuer = await DevIssuer.StartAsync().DefaultTimeout();
        await using var echo = TcpTestServer.Echo();
        await using var memory = new MemoryBrokerStore(TimeProvider.System);
        var store = new UnreachableStore(memory);
        var configuration = BrokerUnderTest.DefaultConfiguration(issuer.Issuer, new Dictionary<string, string> { ["echo"] = echo.Address });
        configuration["Broker:Store:MaxStaleness"] = $"00:00:{MaxStalenessSeconds:00}";
        await using var broker = await BrokerUnderTest.StartAsync(configuration, TestContext.Progress, services: s => s.AddSingleton<IBrokerStore>(store));
        using var channel = GrpcChannel.ForAddress(broker.Address);
        var client = new BrokerClient(channel);
        using var http = new HttpClient();
        var healthz = new Uri(broker.MetricsAddress!, "healthz");

        using var session = await RawSession.OpenAsync(client, issuer.MintToken("ghaport"), ["echo"]);
        var (tunnel, refused) = await session.TunnelAsync(session.Headers("Tunnel", "echo"));
        using var _ = tunnel;
        Assert.That(refused, Is.Null);

        // The same on the raw lane: a tunnel spliced socket to socket.
        using var raw = await RawLanePeer.ConnectAsync(broker.RawLaneAddress!);
        await raw.SendAsync(new RawLaneHello(session.Lease.Token, LeaseProof.Create(session.Key, RawLaneFrame.HelloMethod, session.Lease.LeaseId, string.Empty, DateTimeOffset.UtcNow)), new RawLaneOpen("echo"));
        Assert.That(((RawLaneReply)await raw.ReceiveAsync()).Status, Is.EqualTo(StatusCode.OK));
        Assert.That(((RawLaneReply)await raw.ReceiveAsync()).Status, Is.EqualTo(StatusCode.OK));

        store.Reachable = false;

        // The open tunnels carry on: the store is not on their path.
        await AssertEchoesAsync(tunnel);
        var rawBytes = SocketIo.RandomBytes(1000);
        await raw.SendAsync(rawBytes);
        Assert.That(await raw.ReadExactlyAsync(rawBytes.Length), Is.EqualTo(rawBytes));

        var newSession = Assert.ThrowsAsync<RpcException>(() => RawSession.OpenAsync(client, issuer.MintToken("ghaport"), ["echo"]));
        Assert.That(newSession!.StatusCode, Is.EqualTo(StatusCode.Unavailable));
        Assert.That(newSession.Status.Detail, Does.Contain("state store is unreachable"));

        var (_, newTunnel) = await session.TunnelAsync(session.Headers("Tunnel", "echo"));
        Assert.That(newTunnel?.StatusCode, Is.EqualTo(StatusCode.Unavailable));
        Assert.That(newTunnel!.Status.Detail, Does.Contain("state store is unreachable"));

        using (var down = await http.GetAsync(healthz).DefaultTimeout())
        {
            Assert.That(down.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
            Assert.That(await down.Content.ReadAsStringAsync(), Does.Contain("state store unreachable"));
        }

        var metrics = (await http.GetStringAsync(new Uri(broker.MetricsAddress!, "metrics")).DefaultTimeout()).Split('\n');
        Assert.That(metrics, Has.Some.Match(@"^\S*ghaport_store_up\S* 0$"), "ghaport_store_up is 0 while the store is unreachable");
        Assert.That(metrics, Has.Some.Match(@"^\S*ghaport_store_errors\S* [1-9]"));
        Assert.That(metrics, Has.Some.Match(@"^\S*ghaport_store_last_contact\S* "));

        var ended = Assert.ThrowsAsync<RpcException>(async () =>
        {
            while (await tunnel.ResponseStream.MoveNext().DefaultTimeout())
            {
            }
        });
        Assert.That(ended!.StatusCode, Is.EqualTo(StatusCode.Unavailable));
        Assert.That(ended.Status.Detail, Does.Contain($"has not reached its state store for {MaxStalenessSeconds} s and can no longer hear revocations"));

        var (_, rawWasReset) = await raw.ReadUntilClosedAsync();
        Assert.That(rawWasReset, Is.True, "the raw-lane tunnel ended too, as a reset (no framing to carry the reason)");

        store.Reachable = true;
        await broker.Logs.WaitForAsync(e => e.EventId.Name == "StoreReachable").DefaultTimeout();
        await broker.Logs.WaitForAsync(e => e.EventId.Name == "StoreReloaded").DefaultTimeout();
        using (var up = await http.GetAsync(healthz).DefaultTimeout())
        {
            Assert.That(up.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        using var afterwards = await RawSession.OpenAsync(client, issuer.MintToken("ghaport"), ["echo"]);
        var (again, refusedAgain) = await afterwards.TunnelAsync(afterwards.Headers("Tunnel", "echo"));
        using var __ = again;
        Assert.That(refusedAgain, Is.Null, refusedAgain?.Status.Detail);
        await AssertEchoesAsync(again);

        Assert.That(broker.Logs.Entries.Count(e => e.EventId.Name == "StoreUnreachable"), Is.EqualTo(1), "logged once per outage");
        Assert.That(broker.Logs.Errors.Select(e => e.EventId.Name), Is.All.EqualTo("StoreStale"));
    }

    [Test]
    public async Task StoreUnreachableAtStart_StopsStartUp_WithTheCause()
    {
        await using var issuer = await DevIssuer.StartAsync().DefaultTimeout();
        await using var memory = new MemoryBrokerStore(TimeProvider.System);
        var store = new UnreachableStore(memory) { Reachable = false };
        var configuration = BrokerUnderTest.DefaultConfiguration(issuer.Issuer, new Dictionary<string, string> { ["echo"] = "127.0.0.1:9" });

        var refused = Assert.ThrowsAsync<StoreUnavailableException>(() => BrokerUnderTest.StartAsync(configuration, TestContext.Progress, services: s => s.AddSingleton<IBrokerStore>(store)));

        Assert.That(StoreRefusal.Cause(refused!), Does.Contain("refused"));
    }

    private static async Task AssertEchoesAsync(AsyncDuplexStreamingCall<TunnelFrame, TunnelFrame> call)
    {
        var bytes = SocketIo.RandomBytes(1000);
        await call.RequestStream.WriteAsync(new TunnelFrame { Data = Google.Protobuf.ByteString.CopyFrom(bytes) }).DefaultTimeout();
        Assert.That(await TunnelCalls.ReadAsync(call, bytes.Length).DefaultTimeout(), Is.EqualTo(bytes));
    }
}
