using GitHubActionsPort.Protocol;
using GitHubActionsPort.Protocol.RawLane;
using GitHubActionsPort.Protocol.V1;
using GitHubActionsPort.Tests.RawLane;
using Grpc.Core;

namespace GitHubActionsPort.Tests;

/// <summary>
/// A revoked lease on the wire: every lease-bearing call of it, on either lane, is refused as ended for good, in
/// words and (gRPC) a trailer an agent acts on, not as a lease the broker does not know, which an agent would reopen.
/// </summary>
public sealed class LeaseEndedWireTests : BrokerClientFixture
{
    private string _folder = null!;
    private string _tokenFile = null!;

    protected override void Configure(Dictionary<string, string?> configuration)
    {
        _folder = Directory.CreateTempSubdirectory("ghaport-ended-").FullName;
        _tokenFile = Path.Combine(_folder, "admin-token");
        File.WriteAllText(_tokenFile, Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)) + "\n");
        configuration["Broker:Admin:TokenFile"] = _tokenFile;
    }

    [OneTimeTearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    [TearDown]
    public Task LiftBlocksAsync() => AdminCalls.LiftAllBlocksAsync(Broker.AdminAddress!, _tokenFile);

    [Test]
    public async Task RevokedLease_EveryLeaseBearingCall_IsRefusedAsEndedForGood_OnBothLanes()
    {
        using var session = await RawSession.OpenAsync(Client, Issuer.MintToken("ghaport"), ["echo"]);
        var (revoked, _, error) = await AdminCalls.SessionsAsync(Broker.AdminAddress!, _tokenFile, "revoke", "--lease", session.Lease.LeaseId, "--reason", "job cancelled");
        Assert.That(revoked, Is.Zero, error);

        var (_, tunnel) = await session.TunnelAsync(session.Headers("Tunnel", "echo"));
        var renewal = Assert.ThrowsAsync<RpcException>(() => session.RenewAsync(Issuer.MintToken("ghaport")));
        using var peer = await RawLanePeer.ConnectAsync(Broker.RawLaneAddress!);
        await peer.SendAsync(new RawLaneHello(session.Lease.Token, LeaseProof.Create(session.Key, RawLaneFrame.HelloMethod, session.Lease.LeaseId, string.Empty, DateTimeOffset.UtcNow)));
        var hello = (RawLaneReply)await peer.ReceiveAsync().DefaultTimeout();

        foreach (var status in new[] { tunnel!.Status, renewal!.Status, new Status(hello.Status, hello.Detail) })
        {
            Assert.That(LeaseEnded.TryRead(status, out var kind), Is.True, status.ToString());
            Assert.That(kind, Is.EqualTo(LeaseEnded.Revoked));
            Assert.That(status.Detail, Does.Contain($"lease {session.Lease.LeaseId} ended at ").And.Contain("revoked by an administrator").And.Contain("job cancelled"));
        }

        Assert.That(tunnel.Trailers.GetValue(LeaseEnded.Trailer), Is.EqualTo(LeaseEnded.Revoked));
        Assert.That(renewal.Trailers.GetValue(LeaseEnded.Trailer), Is.EqualTo(LeaseEnded.Revoked));
    }

    [Test]
    public async Task ClosedLease_IsStillUnknown_SoAnAgentMayOpenANewSession()
    {
        using var session = await RawSession.OpenAsync(Client, Issuer.MintToken("ghaport"), ["echo"]);
        await Client.CloseSessionAsync(new CloseSessionRequest(), session.Headers("CloseSession", string.Empty)).ResponseAsync.DefaultTimeout();

        var (_, tunnel) = await session.TunnelAsync(session.Headers("Tunnel", "echo"));

        Assert.That(tunnel!.StatusCode, Is.EqualTo(StatusCode.Unauthenticated));
        Assert.That(tunnel.Status.Detail, Does.StartWith(WireLimits.LeaseUnknownDetail));
        Assert.That(LeaseEnded.TryRead(tunnel.Status, out _), Is.False);
    }

    [Test]
    public async Task WatchSession_AnswersAtOnce_WhenTheLeaseIsRevoked()
    {
        using var session = await RawSession.OpenAsync(Client, Issuer.MintToken("ghaport"), ["echo"]);
        using var watch = Client.WatchSession(session.Headers("WatchSession", string.Empty));
        await watch.RequestStream.CompleteAsync();
        await Broker.Logs.WaitForAsync(e => e.EventId.Name == "SessionGranted" && e.Message.Contains(session.Lease.LeaseId, StringComparison.Ordinal)).DefaultTimeout();

        var (revoked, _, error) = await AdminCalls.SessionsAsync(Broker.AdminAddress!, _tokenFile, "revoke", "--lease", session.Lease.LeaseId);
        Assert.That(revoked, Is.Zero, error);
        var ended = Assert.ThrowsAsync<RpcException>(async () => await watch.ResponseAsync.DefaultTimeout());

        Assert.That(LeaseEnded.TryRead(ended!.Status, out var kind) ? kind : null, Is.EqualTo(LeaseEnded.Revoked));
    }
}
