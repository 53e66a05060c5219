using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using GitHubActionsPort.Broker.DevIssuer;
using GitHubActionsPort.Protocol.V1;
using Grpc.Core;
using Grpc.Net.Client;

namespace GitHubActionsPort.Tests.Audit;

/// <summary>
/// The disk-full attack against a real broker whose audit trail is on a real small filesystem (a tmpfs): refused
/// id-tokens cannot fill it, and once something else has, refusals still answer at once, tunnels are refused (fail
/// closed, not hung), <c>/healthz</c> says the audit cannot write, and once space returns the same broker grants
/// sessions and opens tunnels again, with a trail that verifies.
/// </summary>
public sealed class AuditDiskFullTests : SmallDiskTest
{
    [Test]
    public async Task FullAuditDisk_RefusesWithoutHanging_AndTheBrokerRecovers_WhenSpaceReturns()
    {
        var disk = await MountAsync(512 * 1024);
        var trail = Path.Combine(disk.Folder, "audit.jsonl");
        await using var issuer = await DevIssuer.StartAsync().DefaultTimeout();
        await using var echo = TcpTestServer.Echo();
        var configuration = BrokerUnderTest.DefaultConfiguration(issuer.Issuer, new Dictionary<string, string> { ["echo"] = echo.Address });
        configuration["Broker:Audit:Path"] = trail;
        var broker = await BrokerUnderTest.StartAsync(configuration, TestContext.Progress);
        var stopped = false;
        try
        {
            await AttackAndRecoverAsync(disk, broker, issuer, echo, trail);
            // Stopping the broker drains the trail's queue: every record is on disk after this.
            stopped = true;
            await broker.DisposeAsync();
        }
        finally
        {
            if (!stopped)
            {
                await broker.DisposeAsync();
            }
        }

        var types = AuditTrailFile.Read(trail).Select(AuditTrailFile.TypeOf).ToList();
        Assert.That(types, Has.Member("audit.resumed"));
        Assert.That(types.Count(t => t == "session.granted"), Is.EqualTo(2), "the two sessions granted; not the one refused");
        await using var verify = BrokerProcess.Start(["audit", "verify", trail]);
        Assert.That(await verify.WaitForExitAsync(), Is.Zero, verify.Describe());
    }

    private static async Task AttackAndRecoverAsync(SmallDisk disk, BrokerUnderTest broker, DevIssuer issuer, TcpTestServer echo, string trail)
    {
        using var http = new HttpClient();
        using var channel = GrpcChannel.ForAddress(broker.Address);
        using var sessionKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var client = new GitHubActionsPort.Protocol.V1.Broker.BrokerClient(channel);

        await using (var agent = await AgentUnderTest.StartAsync(broker.Address, ["0:echo"], AgentUnderTest.GitHubEnvironment(issuer), echo: TestContext.Progress))
        {
            Assert.That(await TunnelEchoesAsync(agent["echo"]), Is.True, "a tunnel before the disk fills");

            // The flood that filled the disk before: refused tokens, as fast as one client can send them.
            await FloodRefusalsAsync(client, sessionKey, 2000);
            var rejected = AuditTrailFile.Read(trail).Where(r => AuditTrailFile.TypeOf(r) == "session.rejected").ToList();
            Assert.That(rejected, Has.Count.LessThanOrEqualTo(1), "2000 refusals from one peer are one record (and a count at the interval's end), not 2000");

            // Then something else fills the disk. The trail's last page may hold a record or two more: tunnels are
            // opened until the broker refuses one, which it must within a few (each writes two records).
            var filler = disk.Fill();
            var refusedAt = -1;
            for (var attempt = 0; attempt < 20 && refusedAt < 0; attempt++)
            {
                refusedAt = await TunnelEchoesAsync(agent["echo"]) ? -1 : attempt;
            }

            Assert.That(refusedAt, Is.GreaterThanOrEqualTo(0), "a tunnel whose record cannot be written is refused");
            var dialled = echo.AcceptedCount;
            Assert.That(await TunnelEchoesAsync(agent["echo"]), Is.False, "still refused while the disk is full");
            Assert.That(echo.AcceptedCount, Is.EqualTo(dialled), "the target is never dialled for a tunnel that cannot be recorded");
            await broker.Logs.WaitForAsync(e => e.EventId.Name == "AuditWriteFailed").DefaultTimeout();

            // Refusals still answer (each bounded by the default timeout: before the fix they hung for good).
            await FloodRefusalsAsync(client, sessionKey, 500);
            using (var health = await http.GetAsync(new Uri(broker.MetricsAddress!, "/healthz")).DefaultTimeout())
            {
                Assert.That(health.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
                Assert.That(await health.Content.ReadAsStringAsync(), Is.EqualTo("audit cannot write\n"));
            }

            var metrics = await http.GetStringAsync(new Uri(broker.MetricsAddress!, "/metrics")).DefaultTimeout();
            Assert.That(metrics, Does.Match(@"(?m)^\S*ghaport_audit_writable 0$"), "the gauge says the trail cannot be written");
            Assert.That(metrics, Does.Match(@"(?m)^\S*ghaport_audit_write_failures [1-9]"));

            // A new session is refused too (its grant cannot be recorded), promptly.
            var refusedSession = AgentUnderTest.Run(broker.Address, ["0:echo"], AgentUnderTest.GitHubEnvironment(issuer), echo: TestContext.Progress);
            Assert.That(await refusedSession.Exit.DefaultTimeout(), Is.EqualTo(GitHubActionsPort.Agent.Cli.ExitCodes.BrokerUnreachable));
            Assert.That(refusedSession.Error.Lines, Has.Some.Contains("audit trail"));
            await refusedSession.DisposeAsync();

            // Space returns: the same broker, not restarted, opens tunnels and grants sessions again.
            File.Delete(filler);
            Assert.That(await TunnelEchoesAsync(agent["echo"]), Is.True, "a tunnel once space is back");
            Assert.That(await http.GetStringAsync(new Uri(broker.MetricsAddress!, "/healthz")).DefaultTimeout(), Is.EqualTo("ok\n"));
            await using (var second = await AgentUnderTest.StartAsync(broker.Address, ["0:echo"], AgentUnderTest.GitHubEnvironment(issuer), echo: TestContext.Progress))
            {
                Assert.That(await TunnelEchoesAsync(second["echo"]), Is.True, "a new session and its tunnel");
            }
        }
    }

    /// <summary>Sends bytes through a forward: true if they come back, false if the tunnel was refused (closed with nothing).</summary>
    private static async Task<bool> TunnelEchoesAsync(IPEndPoint forward)
    {
        using var socket = await SocketIo.ConnectAsync(forward);
        var data = SocketIo.RandomBytes(64);
        await socket.SendAllAsync(data);
        socket.Shutdown(SocketShutdown.Send);
        var (back, _) = await socket.ReadUntilClosedAsync().DefaultTimeout("the tunnel's answer");
        return back.Length == data.Length;
    }

    /// <summary>Refused OpenSession calls with a token that is not a JWT, many at once; each must be answered Unauthenticated.</summary>
    private static async Task FloodRefusalsAsync(GitHubActionsPort.Protocol.V1.Broker.BrokerClient client, ECDsa sessionKey, int count)
    {
        var request = new OpenSessionRequest
        {
            IdToken = "not-a-token",
            Targets = { "echo" },
            SessionPublicKey = Google.Protobuf.ByteString.CopyFrom(sessionKey.ExportSubjectPublicKeyInfo()),
        };
        for (var sent = 0; sent < count; sent += 50)
        {
            var calls = Enumerable.Range(0, Math.Min(50, count - sent)).Select(async _ =>
            {
                try
                {
                    await client.OpenSessionAsync(request, deadline: DateTime.UtcNow + TaskTimeouts.Default).ResponseAsync;
                    return StatusCode.OK;
                }
                catch (RpcException ex)
                {
                    return ex.StatusCode;
                }
            });
            var statuses = await Task.WhenAll(calls).DefaultTimeout("refused OpenSession calls");
            Assert.That(statuses, Has.All.EqualTo(StatusCode.Unauthenticated));
        }
    }
}
