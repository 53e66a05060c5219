using GitHubActionsPort.Broker.DevIssuer;
using GitHubActionsPort.Broker.Store;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using BrokerClient = GitHubActionsPort.Protocol.V1.Broker.BrokerClient;

namespace GitHubActionsPort.Tests.Store;

/// <summary>A broker restarted on the same store keeps its leases: the job's token opens tunnels with no new id-token.</summary>
public sealed class StoreRestartTests
{
    [Test]
    public async Task LeaseSurvivesARestart_OnTheSameStore_EvenWithANewSigningKey()
    {
        await using var issuer = await DevIssuer.StartAsync().DefaultTimeout();
        await using var echo = TcpTestServer.Echo();
        await using var store = new MemoryBrokerStore(TimeProvider.System);

        RawSession session;
        await using (var before = await StartAsync(issuer, echo, store))
        {
            using var channel = GrpcChannel.ForAddress(before.Address);
            session = await RawSession.OpenAsync(new BrokerClient(channel), issuer.MintToken("ghaport"), ["echo"]);
            var (tunnel, refused) = await session.TunnelAsync(session.Headers("Tunnel", "echo"));
            tunnel.Dispose();
            Assert.That(refused, Is.Null);
        }

        using (session)
        {
            // A new process, with a key of its own: the one that signed the lease is still published in the store.
            await using var after = await StartAsync(issuer, echo, store);
            using var channel = GrpcChannel.ForAddress(after.Address);
            var client = new BrokerClient(channel);

            var call = client.Tunnel(session.Headers("Tunnel", "echo"));
            using var _ = call;
            var headers = await call.ResponseHeadersAsync.DefaultTimeout();

            Assert.That(headers.GetValue(Protocol.WireLimits.ConnectedHeader), Is.Not.Null, "the old lease opened a tunnel at the restarted broker");
            var bytes = SocketIo.RandomBytes(100);
            await call.RequestStream.WriteAsync(new Protocol.V1.TunnelFrame { Data = Google.Protobuf.ByteString.CopyFrom(bytes) }).DefaultTimeout();
            Assert.That(await TunnelCalls.ReadAsync(call, bytes.Length).DefaultTimeout(), Is.EqualTo(bytes));
            Assert.That(after.Logs.Entries.Any(e => e.EventId.Name == "LeaseLoaded" && e.Message.Contains(session.Lease.LeaseId, StringComparison.Ordinal)));
        }
    }

    private static Task<BrokerUnderTest> StartAsync(DevIssuer issuer, TcpTestServer echo, IBrokerStore store)
    {
        var configuration = BrokerUnderTest.DefaultConfiguration(issuer.Issuer, new Dictionary<string, string> { ["echo"] = echo.Address });
        configuration["Broker:Leases:SigningKeyPath"] = Path.Combine(Path.GetTempPath(), "ghaport-key-" + Guid.NewGuid().ToString("N"), "lease-signing-key.pem");
        return BrokerUnderTest.StartAsync(configuration, TestContext.Progress, services: s => s.AddSingleton(store));
    }
}
