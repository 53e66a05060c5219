using System.Security.Cryptography;
using GitHubActionsPort.Broker.DevIssuer;
using GitHubActionsPort.Broker.Leases;
using GitHubActionsPort.Broker.Store;
using GitHubActionsPort.Protocol;
using GitHubActionsPort.Protocol.V1;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using BrokerClient = GitHubActionsPort.Protocol.V1.Broker.BrokerClient;

namespace GitHubActionsPort.Tests.Store;

/// <summary>
/// Two broker instances sharing one state store, as several instances behind a balancer share PostgreSQL: a lease
/// granted by either works at both, its end and renewal reach both, its proofs are single-use across both, and its
/// connection cap counts the tunnels of both together. Each instance has a lease-signing key of its own.
/// </summary>
public sealed class TwoInstanceTests
{
    private const int MaxConnections = 4;

    private static readonly string[] Targets = ["echo"];

    private DevIssuer _issuer = null!;
    private TcpTestServer _echo = null!;
    private MemoryBrokerStore _store = null!;
    private BrokerUnderTest _a = null!;
    private BrokerUnderTest _b = null!;
    private string _auditA = null!;
    private string _auditB = null!;
    private GrpcChannel _channelA = null!;
    private GrpcChannel _channelB = null!;
    private BrokerClient _clientA = null!;
    private BrokerClient _clientB = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _issuer = await DevIssuer.StartAsync().DefaultTimeout();
        _echo = TcpTestServer.Echo();
        _store = new MemoryBrokerStore(TimeProvider.System);
        (_a, _auditA) = await StartInstanceAsync();
        (_b, _auditB) = await StartInstanceAsync();
        _channelA = GrpcChannel.ForAddress(_a.Address);
        _channelB = GrpcChannel.ForAddress(_b.Address);
        _clientA = new BrokerClient(_channelA);
        _clientB = new BrokerClient(_channelB);
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        _channelA.Dispose();
        _channelB.Dispose();
        await _a.DisposeAsync();
        await _b.DisposeAsync();
        await _echo.DisposeAsync();
        await _issuer.DisposeAsync();
        await _store.DisposeAsync();
    }

    [TearDown]
    public void NoBrokerErrors()
    {
        Assert.That(_a.Logs.Errors.Concat(_b.Logs.Errors), Is.Empty);
    }

    [Test]
    public async Task LeaseGrantedAtA_OpensTunnelsAtB_SignedByAsKey()
    {
        using var session = await OpenAsync(_clientA);

        using var atB = await EchoTunnelAsync(_clientB, session);
        await AssertEchoesAsync(atB);

        Assert.That(_a.Services.GetRequiredService<LeaseSigningKey>().KeyId, Is.Not.EqualTo(_b.Services.GetRequiredService<LeaseSigningKey>().KeyId), "each instance signs with its own key");
    }

    [Test]
    public async Task LeaseClosedAtB_EndsItsTunnelAtA()
    {
        using var session = await OpenAsync(_clientA);
        using var atA = await EchoTunnelAsync(_clientA, session);
        await AssertEchoesAsync(atA);

        await _clientB.CloseSessionAsync(new CloseSessionRequest(), session.Headers("CloseSession", string.Empty)).ResponseAsync.DefaultTimeout();

        var ended = Assert.ThrowsAsync<RpcException>(() => ReadToEndAsync(atA));
        Assert.That(ended!.Status.Detail, Does.Contain("closed by the agent"));
    }

    [Test]
    public async Task LeaseRevokedInTheStore_EndsTunnelsAtBothInstances_AndLaterCallsHearWhy()
    {
        using var session = await OpenAsync(_clientA);
        using var atA = await EchoTunnelAsync(_clientA, session);
        using var atB = await EchoTunnelAsync(_clientB, session);

        await _store.EndLeaseAsync(session.Lease.LeaseId, new LeaseEndRecord(LeaseEndKind.Revoked, "revoked by an administrator (ops@test)", DateTimeOffset.UtcNow), CancellationToken.None);

        foreach (var call in (AsyncDuplexStreamingCall<TunnelFrame, TunnelFrame>[])[atA, atB])
        {
            var ended = Assert.ThrowsAsync<RpcException>(() => ReadToEndAsync(call));
            Assert.That(ended!.StatusCode, Is.EqualTo(StatusCode.PermissionDenied));
            Assert.That(ended.Status.Detail, Does.Contain("revoked by an administrator (ops@test)"));
        }

        var (_, refusal) = await TunnelAsync(_clientB, session);
        Assert.That(refusal?.Status.Detail, Does.Contain("revoked by an administrator (ops@test)"), "a later call is told how the lease ended, not that it is unknown");
    }

    [Test]
    public async Task RenewalAtB_ExtendsTheLeaseAtA()
    {
        using var session = await OpenAsync(_clientA, TimeSpan.FromMinutes(1));
        using var atA = await EchoTunnelAsync(_clientA, session);
        var leaseAtA = _a.Services.GetRequiredService<LeaseStore>().Live.Single(l => l.Id == session.Lease.LeaseId);

        var renewing = new RenewSessionRequest { IdToken = _issuer.MintToken("ghaport"), Ttl = Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(TimeSpan.FromMinutes(10)) };
        var renewed = await _clientB.RenewSessionAsync(renewing, session.Headers("RenewSession", string.Empty)).ResponseAsync.DefaultTimeout();

        var expected = renewed.Lease.ExpiresAt.ToDateTimeOffset();
        await UntilAsync(() => leaseAtA.ExpiresAt >= expected.AddSeconds(-1), "A's copy of the lease takes B's renewal");
        Assert.That(leaseAtA.ExpiresAt - DateTimeOffset.UtcNow, Is.GreaterThan(TimeSpan.FromMinutes(5)));
        await AssertEchoesAsync(atA);
    }

    [Test]
    public async Task ProofUsedAtA_IsRefusedAtB()
    {
        using var session = await OpenAsync(_clientA);
        var proof = LeaseProof.Create(session.Key, "Tunnel", session.Lease.LeaseId, "echo", DateTimeOffset.UtcNow);

        var (first, firstRefusal) = await TunnelAsync(_clientA, session, proof);
        using var _ = first;
        var (_, replayed) = await TunnelAsync(_clientB, session, proof);

        Assert.That(firstRefusal, Is.Null);
        Assert.That(replayed?.StatusCode, Is.EqualTo(StatusCode.Unauthenticated));
        Assert.That(replayed!.Status.Detail, Does.Contain("already used"));
    }

    [Test]
    public async Task EightTunnelsRacingThroughBothInstances_AdmitExactlyTheLeasesFour()
    {
        using var session = await OpenAsync(_clientA);
        Assert.That(session.Lease.MaxConnections, Is.EqualTo(MaxConnections));

        var racing = Enumerable.Range(0, 2 * MaxConnections).Select(i => TunnelAsync(i % 2 == 0 ? _clientA : _clientB, session)).ToList();
        var results = await Task.WhenAll(racing).DefaultTimeout();
        try
        {
            Assert.That(results.Count(r => r.Refusal is null), Is.EqualTo(MaxConnections));
            Assert.That(results.Where(r => r.Refusal is not null).Select(r => r.Refusal!.StatusCode), Is.All.EqualTo(StatusCode.ResourceExhausted));
            Assert.That((await _store.OpenTunnelsAsync(CancellationToken.None)).Count(t => t.LeaseId == session.Lease.LeaseId), Is.EqualTo(MaxConnections));
        }
        finally
        {
            foreach (var (call, refusal) in results)
            {
                if (refusal is null)
                {
                    call.Dispose();
                }
            }
        }

        // Closed tunnels give their slots back, whichever instance carried them.
        await UntilAsync(async () => (await _store.OpenTunnelsAsync(CancellationToken.None)).All(t => t.LeaseId != session.Lease.LeaseId), "every slot given back");
    }

    [Test]
    public async Task TokenSignedByAKeyNoInstancePublished_IsRefused()
    {
        using var session = await OpenAsync(_clientA);
        using var rogue = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var forged = Forge(session, rogue);

        var (_, refusal) = await TunnelAsync(_clientB, session, token: forged);

        Assert.That(refusal?.StatusCode, Is.EqualTo(StatusCode.Unauthenticated));
        Assert.That(refusal!.Status.Detail, Does.Contain(WireLimits.LeaseUnknownDetail));
    }

    [Test]
    public async Task InstanceWithAStaleHeartbeat_IsClaimedLost_ItsSlotsGivenBack_AndItsTunnelsAudited()
    {
        using var session = await OpenAsync(_clientA);
        var ghost = "ins_ghost_" + Guid.NewGuid().ToString("N")[..8];
        var long_ago = DateTimeOffset.UtcNow.AddHours(-1);
        await _store.HeartbeatAsync(new InstanceRecord(ghost, "http://127.0.0.1:1", long_ago, long_ago, InstanceState.Live), CancellationToken.None);
        var tunnelId = $"{session.Lease.LeaseId}/1@{ghost}";
        Assert.That(await _store.TryOpenTunnelAsync(new TunnelRecord(tunnelId, session.Lease.LeaseId, "echo", ghost, long_ago), MaxConnections, CancellationToken.None), Is.True);

        var claimedBy = await Task.WhenAny(
            AuditTrailFile.WaitForAsync(_auditA, r => AuditTrailFile.Field(r, "tunnel") == tunnelId),
            AuditTrailFile.WaitForAsync(_auditB, r => AuditTrailFile.Field(r, "tunnel") == tunnelId)).DefaultTimeout();
        var record = await claimedBy;

        Assert.That(AuditTrailFile.TypeOf(record), Is.EqualTo("tunnel.closed"));
        Assert.That(AuditTrailFile.Field(record, "reason"), Is.EqualTo("instance lost"));
        Assert.That(AuditTrailFile.Field(record, "carried_by"), Is.EqualTo(ghost));
        Assert.That((await _store.OpenTunnelsAsync(CancellationToken.None)).Select(t => t.Id), Has.None.EqualTo(tunnelId));
        Assert.That((await _store.InstancesAsync(CancellationToken.None)).Single(i => i.Id == ghost).State, Is.EqualTo(InstanceState.Lost));
        Assert.That((await _store.InstancesAsync(CancellationToken.None)).Where(i => i.State == InstanceState.Live).Select(i => i.Id),
            Is.SupersetOf(new[] { _a.Services.GetRequiredService<BrokerInstance>().Id, _b.Services.GetRequiredService<BrokerInstance>().Id }));
    }

    private async Task<(BrokerUnderTest Broker, string AuditPath)> StartInstanceAsync()
    {
        var configuration = BrokerUnderTest.DefaultConfiguration(_issuer.Issuer, new Dictionary<string, string> { ["echo"] = _echo.Address });
        var audit = BrokerUnderTest.TempAuditPath();
        configuration["Broker:Audit:Path"] = audit;
        configuration["Broker:Rules:0:MaxConnections"] = MaxConnections.ToString(System.Globalization.CultureInfo.InvariantCulture);
        configuration["Broker:Leases:SigningKeyPath"] = Path.Combine(Path.GetDirectoryName(audit)!, "lease-signing-key.pem");
        // Beats often, so an instance that stopped beating is found within the test's wait; live ones never are.
        configuration["Broker:Store:HeartbeatInterval"] = "00:00:00.5";
        var broker = await BrokerUnderTest.StartAsync(configuration, TestContext.Progress, services: s => s.AddSingleton<IBrokerStore>(_store));
        return (broker, audit);
    }

    private Task<RawSession> OpenAsync(BrokerClient client, TimeSpan? ttl = null) => RawSession.OpenAsync(client, _issuer.MintToken("ghaport"), ["echo"], ttl);

    /// <summary>A tunnel of <paramref name="session"/>'s lease through <paramref name="client"/> (either instance), as RawSession opens one.</summary>
    private static Task<(AsyncDuplexStreamingCall<TunnelFrame, TunnelFrame> Call, RpcException? Refusal)> TunnelAsync(
        BrokerClient client, RawSession session, string? proof = null, string? token = null) =>
        session.WithClient(client).TunnelAsync(session.Headers("Tunnel", "echo", token: token, proof: proof));

    private static async Task<AsyncDuplexStreamingCall<TunnelFrame, TunnelFrame>> EchoTunnelAsync(BrokerClient client, RawSession session)
    {
        var (call, refusal) = await TunnelAsync(client, session);
        Assert.That(refusal, Is.Null, refusal?.Status.Detail);
        return call;
    }

    private static async Task AssertEchoesAsync(AsyncDuplexStreamingCall<TunnelFrame, TunnelFrame> call)
    {
        var bytes = SocketIo.RandomBytes(1000);
        await call.RequestStream.WriteAsync(new TunnelFrame { Data = ByteString.CopyFrom(bytes) }).DefaultTimeout();
        Assert.That(await TunnelCalls.ReadAsync(call, bytes.Length).DefaultTimeout(), Is.EqualTo(bytes));
    }

    /// <summary>Reads the tunnel until the broker ends it; throws its status when that is not OK.</summary>
    private static async Task ReadToEndAsync(AsyncDuplexStreamingCall<TunnelFrame, TunnelFrame> call)
    {
        while (await call.ResponseStream.MoveNext().DefaultTimeout())
        {
        }
    }

    /// <summary>A lease token like the broker's for <paramref name="session"/>'s lease, signed by <paramref name="key"/>.</summary>
    private static string Forge(RawSession session, ECDsa key)
    {
        var securityKey = new ECDsaSecurityKey(key) { CryptoProviderFactory = new CryptoProviderFactory() };
        securityKey.KeyId = Base64UrlEncoder.Encode(securityKey.ComputeJwkThumbprint());
        var jwt = new JsonWebToken(session.Lease.Token);
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = jwt.Issuer,
            Audience = jwt.Audiences.Single(),
            IssuedAt = DateTime.UtcNow,
            NotBefore = DateTime.UtcNow,
            Expires = jwt.ValidTo,
            Claims = new Dictionary<string, object>
            {
                [JwtRegisteredClaimNames.Jti] = session.Lease.LeaseId,
                [JwtRegisteredClaimNames.Sub] = jwt.Subject,
                ["targets"] = Targets,
                ["max_conn"] = MaxConnections,
                ["cnf"] = new Dictionary<string, object> { ["jkt"] = Base64UrlEncoder.Encode(new ECDsaSecurityKey(session.Key).ComputeJwkThumbprint()) },
            },
            SigningCredentials = new SigningCredentials(securityKey, SecurityAlgorithms.EcdsaSha256),
        });
    }

    /// <summary>Waits, bounded, for what another instance's change brings about.</summary>
    internal static Task UntilAsync(Func<bool> condition, string what) => UntilAsync(() => Task.FromResult(condition()), what);

    internal static async Task UntilAsync(Func<Task<bool>> condition, string what)
    {
        using var timeout = new CancellationTokenSource(TaskTimeouts.Default);
        while (!await condition())
        {
            if (timeout.IsCancellationRequested)
            {
                Assert.Fail($"Timed out waiting until {what}.");
            }

            await Task.Delay(20, CancellationToken.None);
        }
    }
}
