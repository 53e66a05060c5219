using System.Text.Json;
using GitHubActionsPort.Broker.Leases;
using Grpc.Core;

namespace GitHubActionsPort.Tests.SharedStore;

/// <summary>
/// Blocks, replay records and the admin endpoint over the shared state store (issue 11): whichever instance an
/// operator asks, it acts on and answers for every instance, and what it places outlives a restart.
/// </summary>
public sealed class SharedStoreAdminTests : SharedStoreFixture
{
    /// <summary>The dev issuer's workflow run: every token it mints carries it.</summary>
    private const string DevRunId = "3000001";

    [Test]
    public async Task BlockThroughA_RefusesSessionAtB_UnblockThroughB_AdmitsAtA()
    {
        var (blocked, output, error) = await SessionsAsync(A, "revoke", "--claim", "repository=acme/*", "--block", "--reason", "incident 42");
        Assert.That(blocked, Is.Zero, error);
        var blockId = output.Split(' ', '\n').Single(w => w.StartsWith("blk_", StringComparison.Ordinal) && !w.EndsWith('\'')).TrimEnd(':');

        var refused = Assert.ThrowsAsync<RpcException>(async () => await OpenSessionAsync(B));
        Assert.That(refused!.StatusCode, Is.EqualTo(StatusCode.PermissionDenied));
        Assert.That(refused.Status.Detail, Is.EqualTo("sessions for this job are blocked by an administrator"));

        // A holds the block in memory: it must hear that B lifted it.
        var zeroBefore = BlocksLoadedCount(A, 0);
        var (unblocked, _, unblockError) = await SessionsAsync(B, "unblock", blockId);
        Assert.That(unblocked, Is.Zero, unblockError);
        await BlocksHeardAsync(A, 0, zeroBefore);

        var granted = await OpenSessionAsync(A);
        Assert.That(granted.Lease.LeaseId, Does.StartWith("lse_"));
        Assert.That(await Store.BlocksAsync(CancellationToken.None), Is.Empty);
    }

    [Test]
    public async Task IdTokenUsedAtA_IsRefusedAtB()
    {
        var token = Issuer.MintToken("ghaport");
        await OpenSessionAsync(A, token);

        var replayed = Assert.ThrowsAsync<RpcException>(async () => await OpenSessionAsync(B, token));

        Assert.That(replayed!.StatusCode, Is.EqualTo(StatusCode.Unauthenticated));
        Assert.That(replayed.Status.Detail, Does.Contain("the id-token was already used to open a session"));
    }

    [Test]
    public async Task SessionsListThroughB_ShowsLeaseGrantedAtA_WithItsTunnelOnA_AndTheInstances()
    {
        await using var agent = await AgentUnderTest.StartAsync(A.Address, ["0:echo"], AgentUnderTest.GitHubEnvironment(Issuer), echo: TestContext.Progress);
        var opened = await agent.Logs.WaitForAsync(e => e.EventId.Name == "SessionOpened").DefaultTimeout();
        var leaseId = opened.Message.Split(' ').First(w => w.StartsWith("lse_", StringComparison.Ordinal)).TrimEnd(',');
        using var client = await SocketIo.ConnectAsync(agent["echo"]);
        await client.SendAllAsync(new byte[] { 7 });
        Assert.That(await client.ReadExactlyAsync(1).DefaultTimeout(), Is.EqualTo(new byte[] { 7 }));

        var (exitCode, json, error) = await SessionsAsync(B, "list", "--json");
        Assert.That(exitCode, Is.Zero, error);
        using var reply = JsonDocument.Parse(json);
        var lease = reply.RootElement.GetProperty("leases").EnumerateArray().Single(l => l.GetProperty("id").GetString() == leaseId);
        Assert.That(lease.GetProperty("grantedBy").GetString(), Is.EqualTo(InstanceId(A)));
        Assert.That(lease.GetProperty("openTunnels").GetInt32(), Is.EqualTo(1));
        var tunnel = lease.GetProperty("tunnels").EnumerateArray().Single();
        Assert.That(tunnel.GetProperty("instance").GetString(), Is.EqualTo(InstanceId(A)));
        Assert.That(tunnel.GetProperty("target").GetString(), Is.EqualTo("echo"));
        var instances = reply.RootElement.GetProperty("instances").EnumerateArray().Select(i => i.GetProperty("id").GetString()).ToList();
        Assert.That(instances, Does.Contain(InstanceId(A)).And.Contain(InstanceId(B)));

        var (_, text, _) = await SessionsAsync(B, "list");
        Assert.That(text, Does.Contain(leaseId).And.Contain($" to echo on {InstanceId(A)} since "));
        Assert.That(text, Does.Contain("INSTANCE").And.Contain(InstanceId(B)));
    }

    [Test]
    public async Task RevokeThroughB_OfLeaseGrantedAtA_EndsItInTheStore_AndBlocksItsRunAttemptAtBoth()
    {
        var leaseId = (await OpenSessionAsync(A)).Lease.LeaseId;
        var oneBefore = BlocksLoadedCount(A, 1);

        var (exitCode, output, error) = await SessionsAsync(B, "revoke", "--lease", leaseId, "--reason", "job cancelled");

        Assert.That(exitCode, Is.Zero, error);
        Assert.That(output, Does.Contain($"revoked 1 lease: {leaseId}"));
        var stored = await Store.FindLeaseAsync(leaseId, CancellationToken.None);
        Assert.That(stored?.End?.Kind, Is.EqualTo(LeaseEndKind.Revoked));
        Assert.That(stored!.End!.Reason, Does.Contain("revoked by an administrator (").And.Contain("job cancelled"));

        // The run attempt's implicit block, placed through B, is in force at B and, once heard, at A.
        var attemptBlock = (await Store.BlocksAsync(CancellationToken.None)).Single();
        Assert.That(attemptBlock.RevokedLease, Is.EqualTo(leaseId));
        Assert.That(attemptBlock.Claims, Does.ContainKey("run_id").WithValue(DevRunId));
        await BlocksHeardAsync(A, 1, oneBefore);
        foreach (var broker in new[] { A, B })
        {
            var refused = Assert.ThrowsAsync<RpcException>(async () => await OpenSessionAsync(broker));
            Assert.That(refused!.StatusCode, Is.EqualTo(StatusCode.PermissionDenied));
            Assert.That(refused.Status.Detail, Does.Contain($"lease {leaseId} of this run attempt was revoked by"));
        }

        // Revoked once: a second revoke, through either instance, finds no live lease.
        var (again, _, againError) = await SessionsAsync(A, "revoke", "--lease", leaseId);
        Assert.That(again, Is.EqualTo(6), againError);
        Assert.That(againError, Does.Contain($"no live lease '{leaseId}'"));
    }

    [Test]
    public async Task BrokerRestartedOnTheSameStore_KeepsItsBlocks()
    {
        var (blocked, _, error) = await SessionsAsync(A, "revoke", "--claim", $"run_id={DevRunId}", "--block");
        Assert.That(blocked, Is.Zero, error);
        var blockId = (await Store.BlocksAsync(CancellationToken.None)).Single().Id;

        await StopBrokerAsync(A);
        var restarted = await StartBrokerAsync();

        var refused = Assert.ThrowsAsync<RpcException>(async () => await OpenSessionAsync(restarted));
        Assert.That(refused!.StatusCode, Is.EqualTo(StatusCode.PermissionDenied));
        var (_, listed, _) = await SessionsAsync(restarted, "list");
        Assert.That(listed, Does.Contain($"block {blockId} on run_id={DevRunId}"));
    }
}
