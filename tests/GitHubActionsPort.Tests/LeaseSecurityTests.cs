using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using GitHubActionsPort.Protocol;
using Grpc.Core;
using Microsoft.IdentityModel.Tokens;

namespace GitHubActionsPort.Tests;

/// <summary>
/// A lease is bound to the session key the agent made in memory: every lease-bearing call proves possession of it,
/// so a lease token copied out of a log, edited, or replayed opens nothing.
/// </summary>
public sealed class LeaseSecurityTests : BrokerClientFixture
{

    [Test]
    public async Task LeaseWithItsKey_OpensATunnel()
    {
        using var session = await OpenAsync();

        var (call, refusal) = await session.TunnelAsync(session.Headers("Tunnel", "echo"));
        using var _ = call;

        Assert.That(refusal, Is.Null);
    }

    [Test]
    public async Task LeaseTokenSignedForByAnotherKey_IsUnauthenticated()
    {
        using var session = await OpenAsync();
        using var thief = ECDsa.Create(ECCurve.NamedCurves.nistP256);

        var (_, refusal) = await session.TunnelAsync(session.Headers("Tunnel", "echo", signWith: thief));

        AssertRefused(refusal, StatusCode.Unauthenticated, session, "does not verify");
    }

    [Test]
    public async Task LeaseTokenWithoutProof_IsUnauthenticated()
    {
        using var session = await OpenAsync();
        var headers = new Metadata { { "authorization", $"Lease {session.Lease.Token}" }, { WireLimits.TargetHeader, "echo" } };

        var (_, refusal) = await session.TunnelAsync(headers);

        AssertRefused(refusal, StatusCode.Unauthenticated, session, LeaseProof.Header);
    }

    [TestCase("targets", "[\"echo\",\"secret\"]")]
    [TestCase("exp", "4102444800")]
    [TestCase("jti", "\"lse_0000000000000000\"")]
    [TestCase("cnf", "{\"jkt\":\"AAAA\"}")]
    public async Task LeaseTokenWithAnEditedClaim_IsUnauthenticated(string claim, string json)
    {
        using var session = await OpenAsync();
        var edited = EditPayload(session.Lease.Token, claim, JsonNode.Parse(json)!);

        var (_, refusal) = await session.TunnelAsync(session.Headers("Tunnel", "echo", token: edited));

        AssertRefused(refusal, StatusCode.Unauthenticated, session, "unknown or has ended");
    }

    [Test]
    public async Task ReplayedProof_IsUnauthenticated()
    {
        using var session = await OpenAsync();
        var proof = LeaseProof.Create(session.Key, "Tunnel", session.Lease.LeaseId, "echo", DateTimeOffset.UtcNow);

        var (first, firstRefusal) = await session.TunnelAsync(session.Headers("Tunnel", "echo", proof: proof));
        using var _ = first;
        var (_, replayRefusal) = await session.TunnelAsync(session.Headers("Tunnel", "echo", proof: proof));

        Assert.That(firstRefusal, Is.Null);
        AssertRefused(replayRefusal, StatusCode.Unauthenticated, session, "already used");
    }

    [TestCase(-120)]
    [TestCase(120)]
    public async Task ProofOutsideTheClockWindow_IsUnauthenticated(int secondsFromNow)
    {
        using var session = await OpenAsync();

        var (_, refusal) = await session.TunnelAsync(session.Headers("Tunnel", "echo", at: DateTimeOffset.UtcNow.AddSeconds(secondsFromNow)));

        AssertRefused(refusal, StatusCode.Unauthenticated, session, "stale or from the future");
    }

    [Test]
    public async Task ProofForOneTarget_UsedForAnother_IsUnauthenticated()
    {
        using var session = await OpenAsync("echo", "other");
        var proofForEcho = LeaseProof.Create(session.Key, "Tunnel", session.Lease.LeaseId, "echo", DateTimeOffset.UtcNow);

        var (_, refusal) = await session.TunnelAsync(session.Headers("Tunnel", "other", proof: proofForEcho));

        AssertRefused(refusal, StatusCode.Unauthenticated, session, "does not verify");
    }

    [Test]
    public async Task ProofForRenewal_UsedToOpenATunnel_IsUnauthenticated()
    {
        using var session = await OpenAsync();
        var renewalProof = LeaseProof.Create(session.Key, "RenewSession", session.Lease.LeaseId, "echo", DateTimeOffset.UtcNow);

        var (_, refusal) = await session.TunnelAsync(session.Headers("Tunnel", "echo", proof: renewalProof));

        AssertRefused(refusal, StatusCode.Unauthenticated, session, "does not verify");
    }

    [Test]
    public async Task LeaseForOneTarget_UsedForAnother_IsPermissionDenied()
    {
        using var session = await OpenAsync("echo");

        var (_, refusal) = await session.TunnelAsync(session.Headers("Tunnel", "other"));

        AssertRefused(refusal, StatusCode.PermissionDenied, session, "does not cover target 'other'");
    }

    [Test]
    public async Task SessionWithoutASessionKey_IsInvalidArgument()
    {
        var request = new Protocol.V1.OpenSessionRequest { IdToken = Issuer.MintToken("ghaport"), Targets = { "echo" } };

        var refusal = Assert.ThrowsAsync<RpcException>(() => Client.OpenSessionAsync(request).ResponseAsync.DefaultTimeout());

        Assert.That(refusal!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
        Assert.That(refusal.Status.Detail, Does.Contain("session key"));
    }

    [Test]
    public async Task Renewal_ExtendsTheLease_AndIssuesANewToken()
    {
        using var session = await OpenAsync(ttl: TimeSpan.FromMinutes(1));
        var first = session.Lease;

        var renewed = await session.RenewAsync(Issuer.MintToken("ghaport"), TimeSpan.FromMinutes(10));

        Assert.That(renewed.LeaseId, Is.EqualTo(first.LeaseId));
        Assert.That(renewed.ExpiresAt.ToDateTimeOffset(), Is.GreaterThan(first.ExpiresAt.ToDateTimeOffset().AddMinutes(5)));
        Assert.That(renewed.Token, Is.Not.EqualTo(first.Token));
        var (call, refusal) = await session.TunnelAsync(session.Headers("Tunnel", "echo"));
        using var _ = call;
        Assert.That(refusal, Is.Null, "the renewed token opens tunnels");
    }

    [Test]
    public async Task RenewalWithAnotherJobsToken_IsPermissionDenied()
    {
        using var session = await OpenAsync();
        var otherRun = Issuer.MintToken("ghaport", new Dictionary<string, object> { ["run_id"] = "9999999" });

        var refusal = Assert.ThrowsAsync<RpcException>(() => session.RenewAsync(otherRun));

        Assert.That(refusal!.StatusCode, Is.EqualTo(StatusCode.PermissionDenied));
        Assert.That(refusal.Status.Detail, Does.Contain("another job"));
    }

    [Test]
    public async Task RenewalWithoutTheSessionKey_IsUnauthenticated()
    {
        using var session = await OpenAsync();
        using var thief = ECDsa.Create(ECCurve.NamedCurves.nistP256);

        var refusal = Assert.ThrowsAsync<RpcException>(() => session.RenewAsync(Issuer.MintToken("ghaport"), headers: session.Headers("RenewSession", string.Empty, signWith: thief)));

        Assert.That(refusal!.StatusCode, Is.EqualTo(StatusCode.Unauthenticated));
    }

    [Test]
    public async Task ClosedSession_EndsItsTunnels_AndItsTokenOpensNothing()
    {
        using var session = await OpenAsync();
        var (open, openRefusal) = await session.TunnelAsync(session.Headers("Tunnel", "echo"));
        using var _ = open;
        Assert.That(openRefusal, Is.Null);

        await Client.CloseSessionAsync(new Protocol.V1.CloseSessionRequest(), session.Headers("CloseSession", string.Empty)).ResponseAsync.DefaultTimeout();

        var ended = Assert.ThrowsAsync<RpcException>(() => open.ResponseStream.MoveNext().DefaultTimeout());
        Assert.That(ended!.StatusCode, Is.EqualTo(StatusCode.Aborted));
        Assert.That(ended.Status.Detail, Does.Contain("closed by the agent"));
        var (_, refusal) = await session.TunnelAsync(session.Headers("Tunnel", "echo"));
        AssertRefused(refusal, StatusCode.Unauthenticated, session, "unknown or has ended");
    }

    private Task<RawSession> OpenAsync(params string[] targets) => OpenAsync(null, targets);

    private Task<RawSession> OpenAsync(TimeSpan? ttl, params string[] targets) =>
        RawSession.OpenAsync(Client, Issuer.MintToken("ghaport"), targets.Length == 0 ? ["echo"] : targets, ttl);

    protected override Dictionary<string, string> ExtraTargets() => new() { ["other"] = Echo.Address };

    /// <summary>The refusal's status and words, and that neither it nor any broker log line holds the lease token.</summary>
    private void AssertRefused(RpcException? refusal, StatusCode status, RawSession session, string detail)
    {
        Assert.That(refusal, Is.Not.Null, "the call should have been refused");
        Assert.That(refusal!.StatusCode, Is.EqualTo(status), refusal.Status.Detail);
        Assert.That(refusal.Status.Detail, Does.Contain(detail));
        Assert.That(refusal.Status.Detail, Does.Not.Contain(session.Lease.Token));
        Assert.That(Broker.Logs.Entries.Select(e => e.Message), Has.None.Contains(session.Lease.Token));
        var audited = status == StatusCode.Unauthenticated ? "LeaseRejected" : "TunnelDenied";
        Assert.That(Broker.Logs.Entries, Has.Some.Matches<LogEntry>(e => e.EventId.Name == audited && (audited == "TunnelDenied" || e.Message.Contains(refusal.Status.Detail, StringComparison.Ordinal))),
            "every refusal leaves a log line to audit");
    }

    /// <summary>Rewrites one payload claim and keeps the original signature, as an attacker editing a token would.</summary>
    private static string EditPayload(string token, string claim, JsonNode value)
    {
        var parts = token.Split('.');
        var payload = JsonNode.Parse(Base64UrlEncoder.DecodeBytes(parts[1]))!.AsObject();
        payload[claim] = value;
        parts[1] = Base64UrlEncoder.Encode(Encoding.UTF8.GetBytes(payload.ToJsonString(new JsonSerializerOptions())));
        return string.Join('.', parts);
    }
}
