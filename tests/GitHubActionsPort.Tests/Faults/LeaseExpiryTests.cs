using GitHubActionsPort.Agent.Cli;

namespace GitHubActionsPort.Tests.Faults;

/// <summary>A lease that runs out in the middle of a large transfer cuts it cleanly at both ends and says so in the trail.</summary>
[TestFixture("raw")]
[TestFixture("grpc")]
public sealed class LeaseExpiryTests(string lane) : FaultFixture(lane)
{
    private const long Transfer = 256L * 1024 * 1024;

    /// <summary>Read and checked before the client stops reading, so the lease ends with the transfer under way.</summary>
    private const int ReadBeforeExpiry = 16 * 1024 * 1024;

    private readonly Firehose _source = new(Transfer);

    protected override Dictionary<string, string> ExtraTargets() => new() { ["source"] = _source.Address };

    [OneTimeTearDown]
    public async Task StopSourceAsync() => await _source.DisposeAsync();

    [Test]
    public async Task LeaseExpiresMidTransfer_ClientAndTargetSeeResets_AgentExitsLeaseEnded_TrailSaysExpired()
    {
        // A token from a file cannot be renewed: this lease ends at its TTL, whatever is moving.
        await using var agent = await FaultAgent.StartAsync(
            Lane, Broker.Address, ["source"], new Dictionary<string, string?>(), ["--ttl", "00:00:05", "--id-token-file", TokenFile(Issuer.MintToken("ghaport"))]);
        var leaseId = LeaseIdIn((await agent.Logs.WaitForAsync(e => e.EventId.Name == "SessionOpened").DefaultTimeout()).Message);
        using var client = await SocketIo.ConnectAsync(agent["source"]);
        await _source.Pattern.ReadAsync(client, 0, ReadBeforeExpiry).DefaultTimeout();
        var target = await _source.ConnectionAsync().DefaultTimeout();

        // The client reads no more: the rest of the 256 MiB waits in the path, backpressured, until the lease ends.
        var failed = await agent.Logs.WaitForAsync(e => e.EventId.Name == "TunnelFailed").DefaultTimeout();
        var rest = await _source.Pattern.ReadUntilClosedAsync(client, ReadBeforeExpiry).DefaultTimeout();
        var targetEnd = await target.Ended.DefaultTimeout();
        var exitCode = await agent.Exit.DefaultTimeout();

        Assert.That(rest.WasReset, Is.True, "a transfer cut by the lease's end must reach the client as a reset, not a clean short end");
        Assert.That(rest.MismatchAt, Is.Null, "every byte that arrived before the cut is the target's, in order");
        Assert.That(ReadBeforeExpiry + rest.Received, Is.LessThan(Transfer), "the transfer was cut, not completed");
        Assert.That(targetEnd.WasReset, Is.True, "the broker resets the target's connection too");
        Assert.That(targetEnd.BytesSent, Is.LessThan(Transfer), "the target was stopped mid-stream");
        Assert.That(failed.Message, Does.Contain("expired"), "the agent says the lease expired");
        Assert.That(exitCode, Is.EqualTo(ExitCodes.LeaseEnded), "the documented exit code for a lease that ended");
        Assert.That(agent.Error.Lines, Has.Some.Contains($"lease {leaseId} expired at"));

        var closed = await AuditTrailFile.WaitForAsync(AuditPath, r => AuditTrailFile.TypeOf(r) == "tunnel.closed" && AuditTrailFile.Field(r, "tunnel")!.StartsWith(leaseId + "/", StringComparison.Ordinal));
        Assert.That(AuditTrailFile.Field(closed, "reason"), Does.StartWith($"lease {leaseId} expired at"), "the trail records the tunnel closed because the lease expired");
        Assert.That(closed.GetProperty("bytes_from_target").GetInt64(), Is.GreaterThanOrEqualTo(ReadBeforeExpiry).And.LessThan(Transfer));
        var ended = await AuditTrailFile.WaitForAsync(AuditPath, r => AuditTrailFile.Field(r, "lease") == leaseId && AuditTrailFile.TypeOf(r) is "lease.expired" or "lease.ended");
        Assert.That(AuditTrailFile.TypeOf(ended), Is.EqualTo("lease.expired"));
    }

    private static string LeaseIdIn(string message) => message.Split(' ').First(w => w.StartsWith("lse_", StringComparison.Ordinal));
}
