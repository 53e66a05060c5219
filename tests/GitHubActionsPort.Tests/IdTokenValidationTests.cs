using GitHubActionsPort.Protocol.V1;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;

namespace GitHubActionsPort.Tests;

/// <summary>
/// The broker's gRPC face as a caller sees it: which id-tokens buy a lease, which targets the policy denies them
/// (and in which words), and which tunnel calls a lease admits. The id-tokens refused outright, and why, are the
/// attack catalogue in <see cref="TokenAttackTests"/>.
/// </summary>
public sealed class IdTokenValidationTests : BrokerClientFixture
{
    private const int RuleMaxConnections = 2;
    private static readonly TimeSpan RuleMaxTtl = TimeSpan.FromHours(1);

    private static readonly string[] EchoAndOther = ["echo", "other"];
    private static readonly string[] EchoOnly = ["echo"];

    // Both are created in hooks the base fixture's one-time set-up calls, and disposed in the one-time tear-down.
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Structure", "NUnit1032", Justification = "Disposed in OneTimeTearDown.")]
    private ForgeIssuer _forge = null!;
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Structure", "NUnit1032", Justification = "Disposed in OneTimeTearDown.")]
    private TcpTestServer _other = null!;

    protected override Dictionary<string, string> ExtraTargets()
    {
        _other = TcpTestServer.Echo();
        return new() { ["other"] = _other.Address };
    }

    protected override void Configure(Dictionary<string, string?> configuration)
    {
        // A second trusted issuer whose keys the test holds, for tokens the dev issuer would never mint.
        _forge = ForgeIssuer.Start();
        configuration["Broker:Issuers:1:Issuer"] = _forge.Issuer;
        configuration["Broker:Issuers:1:Audiences:0"] = "ghaport";
        configuration["Broker:Rules:0:MaxConnections"] = RuleMaxConnections.ToString(System.Globalization.CultureInfo.InvariantCulture);
        configuration["Broker:Rules:0:MaxTtl"] = RuleMaxTtl.ToString();

        // Rules judge one issuer's tokens: the forge's acme/app gets the same grant through a rule of its own.
        foreach (var (key, value) in configuration.Where(c => c.Key.StartsWith("Broker:Rules:0:", StringComparison.Ordinal)).ToList())
        {
            configuration["Broker:Rules:2:" + key["Broker:Rules:0:".Length..]] = value;
        }

        configuration["Broker:Rules:2:Name"] = "forge";
        configuration["Broker:Rules:2:Issuer"] = _forge.Issuer;

        // A target that exists but belongs to another repository.
        configuration["Broker:Targets:secret"] = configuration["Broker:Targets:echo"];
        configuration["Broker:Rules:1:Name"] = "others";
        configuration["Broker:Rules:1:Issuer"] = Issuer.Issuer;
        configuration["Broker:Rules:1:Claims:repository"] = "acme/other";
        configuration["Broker:Rules:1:Targets:0"] = "secret";
    }

    [OneTimeTearDown]
    public async Task DisposeTargetsAsync()
    {
        await _other.DisposeAsync();
        await _forge.DisposeAsync();
    }

    [Test]
    public async Task ValidToken_GrantsLease_ForTheTargets_UntilDefaultTtl_WithRuleConnectionCap()
    {
        var before = DateTimeOffset.UtcNow;
        var token = Issuer.MintToken("ghaport");
        var response = await OpenSessionAsync(token, "echo", "other");

        var lease = response.Lease;
        Assert.That(lease, Is.Not.Null);
        Assert.That(lease.LeaseId, Does.StartWith("lse_"));
        Assert.That(lease.Token, Is.Not.Empty);
        Assert.That(lease.Targets, Is.EquivalentTo(EchoAndOther));
        Assert.That(lease.MaxConnections, Is.EqualTo(RuleMaxConnections));
        Assert.That(lease.ExpiresAt.ToDateTimeOffset() - before, Is.InRange(TimeSpan.FromMinutes(15), TimeSpan.FromMinutes(15) + TimeSpan.FromSeconds(30)));
        var logged = Broker.Logs.Entries.Select(e => e.ToString()).ToList();
        Assert.That(logged, Has.Some.Contains(lease.LeaseId), "the grant is logged, by lease id");
        Assert.That(logged, Has.None.Contains(token), "the broker must not log the id-token");
        Assert.That(logged, Has.None.Contains(lease.Token), "the broker must not log the lease token");
    }

    [Test]
    public async Task RequestedTtlBeyondRuleMaxTtl_IsCappedByTheRule()
    {
        var before = DateTimeOffset.UtcNow;
        var response = await OpenSessionAsync(Issuer.MintToken("ghaport"), ttl: TimeSpan.FromHours(3), "echo");

        Assert.That(response.Lease.ExpiresAt.ToDateTimeOffset() - before, Is.InRange(RuleMaxTtl, RuleMaxTtl + TimeSpan.FromSeconds(30)));
    }

    [Test]
    public async Task TargetOfAnotherRepository_IsPermissionDenied_AndDetailNamesTargetAndIdentity()
    {
        var detail = await AssertSessionRefusedAsync(Issuer.MintToken("ghaport"), StatusCode.PermissionDenied, "secret");

        Assert.That(detail, Does.Contain("'secret'").And.Contain("repository=acme/app"));
    }

    [Test]
    public async Task OneForbiddenTargetAmongAllowed_DeniesTheWholeSession()
    {
        var detail = await AssertSessionRefusedAsync(Issuer.MintToken("ghaport"), StatusCode.PermissionDenied, "echo", "secret");

        Assert.That(detail, Does.Contain("'secret'"));
    }

    [Test]
    public async Task UnknownTarget_IsDeniedInTheSameWordsAsAForbiddenOne()
    {
        var forbidden = await AssertSessionRefusedAsync(Issuer.MintToken("ghaport"), StatusCode.PermissionDenied, "secret");
        var unknown = await AssertSessionRefusedAsync(Issuer.MintToken("ghaport"), StatusCode.PermissionDenied, "nosuch");

        Assert.That(unknown.Replace("'nosuch'", "'secret'", StringComparison.Ordinal), Is.EqualTo(forbidden));
    }

    [Test]
    public async Task ListValuedClaim_NeverMatchesAPattern()
    {
        // README: "A missing or non-string claim never matches." A list holding the right string is not a string.
        var payload = _forge.Payload();
        payload["repository"] = new[] { "acme/app" };

        await AssertSessionRefusedAsync(ForgeIssuer.Sign(payload, _forge.Rs256), StatusCode.PermissionDenied);
    }

    [Test]
    public async Task MissingClaim_NeverMatches()
    {
        var payload = _forge.Payload();
        payload.Remove("repository");

        var detail = await AssertSessionRefusedAsync(ForgeIssuer.Sign(payload, _forge.Rs256), StatusCode.PermissionDenied);

        Assert.That(detail, Does.Contain("repository=(none)"));
    }

    [Test]
    public async Task Tunnel_WithoutLeaseHeader_IsUnauthenticated()
    {
        using var call = OpenTunnel(authorization: null, "echo");

        var status = await RefusalOfAsync(call);

        Assert.That(status.StatusCode, Is.EqualTo(StatusCode.Unauthenticated));
        Assert.That(status.Detail, Does.Contain("lease"));
    }

    [TestCase("Lease ghl_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", TestName = "Tunnel_WithUnknownLeaseToken_IsUnauthenticated")]
    [TestCase("Lease ", TestName = "Tunnel_WithEmptyLeaseToken_IsUnauthenticated")]
    public async Task Tunnel_WithUnusableLease_IsUnauthenticated(string authorization)
    {
        using var call = OpenTunnel(authorization, "echo");

        var status = await RefusalOfAsync(call);

        Assert.That(status.StatusCode, Is.EqualTo(StatusCode.Unauthenticated));
    }

    [Test]
    public async Task Tunnel_WithLeaseTokenUnderBearerScheme_IsUnauthenticated()
    {
        var lease = (await OpenSessionAsync(Issuer.MintToken("ghaport"), "echo")).Lease;
        using var call = OpenTunnel("Bearer " + lease.Token, "echo", lease.LeaseId);

        var status = await RefusalOfAsync(call);

        Assert.That(status.StatusCode, Is.EqualTo(StatusCode.Unauthenticated));
    }

    [Test]
    public async Task Tunnel_LeaseForOneTarget_UsedForAnother_IsPermissionDenied()
    {
        var lease = (await OpenSessionAsync(Issuer.MintToken("ghaport"), "echo")).Lease;
        var otherBefore = _other.AcceptedCount;
        using var call = OpenTunnel("Lease " + lease.Token, "other", lease.LeaseId);

        var status = await RefusalOfAsync(call);

        Assert.That(status.StatusCode, Is.EqualTo(StatusCode.PermissionDenied));
        Assert.That(status.Detail, Does.Contain("'other'"));
        Assert.That(_other.AcceptedCount, Is.EqualTo(otherBefore), "the broker must not dial a target the lease does not cover");
    }

    [Test]
    public async Task Tunnel_BeyondMaxConnections_IsResourceExhausted_UntilOneCloses()
    {
        var lease = (await OpenSessionAsync(Issuer.MintToken("ghaport"), "echo")).Lease;
        var open = new List<AsyncDuplexStreamingCall<TunnelFrame, TunnelFrame>>();
        try
        {
            for (var i = 0; i < RuleMaxConnections; i++)
            {
                var call = OpenTunnel("Lease " + lease.Token, "echo", lease.LeaseId);
                open.Add(call);
                await call.ResponseHeadersAsync.DefaultTimeout();
                await AssertEchoesAsync(call, $"tunnel {i}");
            }

            using (var extra = OpenTunnel("Lease " + lease.Token, "echo", lease.LeaseId))
            {
                var status = await RefusalOfAsync(extra);
                Assert.That(status.StatusCode, Is.EqualTo(StatusCode.ResourceExhausted));
                Assert.That(status.Detail, Does.Contain(RuleMaxConnections.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            }

            // Closing one frees its slot for the next.
            await CloseCleanlyAsync(open[0]);
            using var next = OpenTunnel("Lease " + lease.Token, "echo", lease.LeaseId);
            await next.ResponseHeadersAsync.DefaultTimeout();
            await AssertEchoesAsync(next, "tunnel after one closed");
            await CloseCleanlyAsync(next);
            await CloseCleanlyAsync(open[1]);
        }
        finally
        {
            foreach (var call in open)
            {
                call.Dispose();
            }
        }
    }

    [Test]
    public async Task AgentConnectionBeyondMaxConnections_IsReset_AndLoggedAsRefusedNotOpened()
    {
        await using var agent = await StartAgentAsync("echo");
        var clients = new List<System.Net.Sockets.Socket>();
        try
        {
            for (var i = 0; i < RuleMaxConnections; i++)
            {
                var client = await SocketIo.ConnectAsync(agent["echo"]);
                clients.Add(client);
                await client.SendAllAsync(new byte[] { (byte)i });
                Assert.That(await client.ReadExactlyAsync(1).DefaultTimeout(), Is.EqualTo(new byte[] { (byte)i }));
            }

            using var extra = await SocketIo.ConnectAsync(agent["echo"]);
            var (_, wasReset) = await extra.ReadUntilClosedAsync().DefaultTimeout();
            var outcome = await agent.Logs.WaitForAsync(e => e.EventId.Name is "TunnelRefused" or "TunnelFailed").DefaultTimeout();

            Assert.That(wasReset, Is.True, "a refused connection must be reset, not closed cleanly");
            Assert.That(outcome.Message, Does.Contain($"at most {RuleMaxConnections}"));
            Assert.That(outcome.EventId.Name, Is.EqualTo("TunnelRefused"), "the broker refused the tunnel; the agent must say so: " + outcome);
            Assert.That(agent.Logs.Entries.Count(e => e.EventId.Name == "TunnelOpened"), Is.EqualTo(RuleMaxConnections), "a refused tunnel was never open");
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }
    }

    private Task<OpenSessionResponse> OpenSessionAsync(string token, params string[] targets) => OpenSessionAsync(token, null, targets);

    private async Task<OpenSessionResponse> OpenSessionAsync(string token, TimeSpan? ttl, params string[] targets)
    {
        var request = new OpenSessionRequest
        {
            IdToken = token,
            Targets = { targets },
            SessionPublicKey = ByteString.CopyFrom(SessionKey.ExportSubjectPublicKeyInfo()),
        };
        if (ttl is { } requested)
        {
            request.Ttl = Duration.FromTimeSpan(requested);
        }

        return await Client.OpenSessionAsync(request, deadline: DateTime.UtcNow + TaskTimeouts.Default).ResponseAsync.DefaultTimeout();
    }

    /// <summary>
    /// Asserts the session is refused with <paramref name="expected"/> and returns the detail; neither the detail nor
    /// any broker log line may hold the token.
    /// </summary>
    private async Task<string> AssertSessionRefusedAsync(string token, StatusCode expected, params string[] targets)
    {
        if (targets.Length == 0)
        {
            targets = ["echo"];
        }

        var error = await CatchRpcAsync(() => OpenSessionAsync(token, targets));
        Assert.That(error.StatusCode, Is.EqualTo(expected), error.Status.Detail);
        Assert.That(error.Status.Detail, Does.Not.Contain(token), "the reply must not echo the id-token");
        Assert.That(Broker.Logs.Entries.Select(e => e.ToString()), Has.None.Contains(token), "the broker must not log the id-token");
        return error.Status.Detail;
    }

    /// <summary>A tunnel call; with <paramref name="leaseId"/>, it carries a proof of possession of the session key.</summary>
    private AsyncDuplexStreamingCall<TunnelFrame, TunnelFrame> OpenTunnel(string? authorization, string target, string? leaseId = null)
    {
        var headers = new Metadata { { Protocol.WireLimits.TargetHeader, target } };
        if (authorization is not null)
        {
            headers.Add("authorization", authorization);
        }

        if (leaseId is not null)
        {
            headers.Add(Protocol.LeaseProof.Header, Protocol.LeaseProof.Create(SessionKey, "Tunnel", leaseId, target, DateTimeOffset.UtcNow));
        }

        return Client.Tunnel(headers, deadline: DateTime.UtcNow + TaskTimeouts.Default);
    }

    /// <summary>
    /// The status a refused tunnel call ends with. The client library hands out the response headers even of a
    /// refusal (it has no body), so the status surfaces on the first read.
    /// </summary>
    private static async Task<Status> RefusalOfAsync(AsyncDuplexStreamingCall<TunnelFrame, TunnelFrame> call) =>
        (await CatchRpcAsync(async () =>
        {
            await call.ResponseHeadersAsync.DefaultTimeout();
            await call.ResponseStream.MoveNext(CancellationToken.None).DefaultTimeout();
        })).Status;

    private static async Task<RpcException> CatchRpcAsync(Func<Task> call)
    {
        try
        {
            await call();
        }
        catch (RpcException ex)
        {
            return ex;
        }

        throw new AssertionException("The call succeeded; it was expected to fail with a gRPC status.");
    }

    private static async Task AssertEchoesAsync(AsyncDuplexStreamingCall<TunnelFrame, TunnelFrame> call, string what)
    {
        var payload = ByteString.CopyFromUtf8(what);
        await call.RequestStream.WriteAsync(new TunnelFrame { Data = payload }).DefaultTimeout();
        var received = new List<byte>();
        while (received.Count < payload.Length)
        {
            Assert.That(await call.ResponseStream.MoveNext(CancellationToken.None).DefaultTimeout(), Is.True, what);
            Assert.That(call.ResponseStream.Current.KindCase, Is.EqualTo(TunnelFrame.KindOneofCase.Data), what);
            received.AddRange(call.ResponseStream.Current.Data);
        }

        Assert.That(received.ToArray(), Is.EqualTo(payload.ToByteArray()), what);
    }

    /// <summary>Half-closes our side, reads the echo target's end-of-stream, and expects the call to end OK.</summary>
    private static async Task CloseCleanlyAsync(AsyncDuplexStreamingCall<TunnelFrame, TunnelFrame> call)
    {
        await call.RequestStream.WriteAsync(new TunnelFrame { End = new EndOfStream() }).DefaultTimeout();
        await call.RequestStream.CompleteAsync().DefaultTimeout();
        var sawEnd = false;
        while (await call.ResponseStream.MoveNext(CancellationToken.None).DefaultTimeout())
        {
            sawEnd |= call.ResponseStream.Current.KindCase == TunnelFrame.KindOneofCase.End;
        }

        Assert.That(sawEnd, Is.True, "the target's half-close must arrive as an end-of-stream frame");
        Assert.That(call.GetStatus().StatusCode, Is.EqualTo(StatusCode.OK));
    }
}
