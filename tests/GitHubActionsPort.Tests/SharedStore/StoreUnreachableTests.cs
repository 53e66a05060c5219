using GitHubActionsPort.Broker.Admin;
using GitHubActionsPort.Broker.Auth;
using GitHubActionsPort.Broker.Store;
using GitHubActionsPort.Tests.Store;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace GitHubActionsPort.Tests.SharedStore;

/// <summary>
/// Fail closed when the state store cannot be reached (issue 11): a session is refused as unavailable with the cause,
/// never let through for want of a replay record or a block, and the admin endpoint answers 503 naming the store
/// instead of reporting a revoke it could not make.
/// </summary>
public sealed class StoreUnreachableTests
{
    /// <summary>What <see cref="UnreachableStore"/> says while cut off.</summary>
    private const string Unreachable = "the broker's state store is unreachable";

    private static readonly CallerIdentity Job = new("https://issuer.test", "repo:acme/app:ref:refs/heads/main", "jti-1", DateTimeOffset.UtcNow.AddMinutes(5),
        new Dictionary<string, string> { ["repository"] = "acme/app", ["run_id"] = "1" });

    [Test]
    public async Task Blocks_NotReadable_RefuseTheSession_UntilTheStoreAnswers()
    {
        await using var store = new UnreachableStore(new MemoryBrokerStore(TimeProvider.System));
        using var blocks = new SessionBlocks(store, TimeProvider.System, NullLogger<SessionBlocks>.Instance);
        Assert.That(ClaimSelector.TryParse(new Dictionary<string, string> { ["repository"] = "acme/*" }, out var selector, out _), Is.True);
        await store.AddBlockAsync(new SessionBlock("blk_000000000001", selector!, "incident", "ops@host", DateTimeOffset.UtcNow).ToRecord(), CancellationToken.None);

        // Never loaded, and the store does not answer: unknown is not "no block".
        store.Reachable = false;
        var unknown = Assert.ThrowsAsync<StoreUnavailableException>(async () => await blocks.MatchAsync(Job, CancellationToken.None));
        Assert.That(unknown!.Message, Does.Contain(Unreachable));

        store.Reachable = true;
        Assert.That((await blocks.MatchAsync(Job, CancellationToken.None))?.Id, Is.EqualTo("blk_000000000001"));

        // A change heard but not readable leaves the copy unknown again: refused, not served stale.
        store.Reachable = false;
        Assert.ThrowsAsync<StoreUnavailableException>(async () => await blocks.OnChangeAsync(new StoreChange(2, StoreChangeKind.Block, "blk_x"), CancellationToken.None));
        Assert.ThrowsAsync<StoreUnavailableException>(async () => await blocks.MatchAsync(Job, CancellationToken.None));
        store.Reachable = true;
        Assert.That(await blocks.MatchAsync(Job, CancellationToken.None), Is.Not.Null);
    }

    [Test]
    public async Task BlockPlacedByAnotherInstance_NotYetHeard_IsFoundByTheCheckAfterAGrant()
    {
        await using var store = new MemoryBrokerStore(TimeProvider.System);
        using var blocks = new SessionBlocks(store, TimeProvider.System, NullLogger<SessionBlocks>.Instance);
        Assert.That(await blocks.MatchAsync(Job, CancellationToken.None), Is.Null);
        Assert.That(ClaimSelector.TryParse(new Dictionary<string, string> { ["run_id"] = "1" }, out var selector, out _), Is.True);

        // Another instance's block: in the store, its change not delivered here.
        await store.AddBlockAsync(new SessionBlock("blk_00000000000a", selector!, "incident", "ops@host", DateTimeOffset.UtcNow).ToRecord(), CancellationToken.None);

        Assert.That(await blocks.MatchAsync(Job, CancellationToken.None), Is.Null, "the copy has not heard it yet");
        Assert.That((await blocks.MatchCurrentAsync(Job, CancellationToken.None))?.Id, Is.EqualTo("blk_00000000000a"));
    }

    [Test]
    public async Task RevocationBlocks_AreCapped_OldestLiftedFirst_OperatorBlocksKept()
    {
        await using var store = new MemoryBrokerStore(TimeProvider.System);
        using var blocks = new SessionBlocks(store, TimeProvider.System, NullLogger<SessionBlocks>.Instance);
        Assert.That(ClaimSelector.TryParse(new Dictionary<string, string> { ["repository"] = "acme/app" }, out var selector, out _), Is.True);
        var operatorBlock = await blocks.AddAsync(selector!, "incident", "ops@host", null, CancellationToken.None);
        var first = await blocks.AddAsync(selector!, "revoked", "ops@host", "lse_first", CancellationToken.None);
        for (var i = 0; i < SessionBlocks.MaxRevocationBlocks; i++)
        {
            await blocks.AddAsync(selector!, "revoked", "ops@host", $"lse_{i}", CancellationToken.None);
        }

        var stored = await store.BlocksAsync(CancellationToken.None);
        Assert.That(stored.Count(b => b.RevokedLease is not null), Is.EqualTo(SessionBlocks.MaxRevocationBlocks));
        Assert.That(stored.Select(b => b.Id), Does.Contain(operatorBlock.Id).And.Not.Contain(first.Id));
    }

    [Test]
    public async Task StoreDown_SessionRefusedUnavailable_AdminAnswers503_AndBothRecover()
    {
        await using var issuer = await Broker.DevIssuer.DevIssuer.StartAsync().DefaultTimeout();
        await using var echo = TcpTestServer.Echo();
        await using var store = new UnreachableStore(new MemoryBrokerStore(TimeProvider.System));
        var folder = Directory.CreateTempSubdirectory("ghaport-unreachable-").FullName;
        try
        {
            var tokenFile = Path.Combine(folder, "admin-token");
            await File.WriteAllTextAsync(tokenFile, Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)) + "\n");
            var configuration = BrokerUnderTest.DefaultConfiguration(issuer.Issuer, new Dictionary<string, string> { ["echo"] = echo.Address });
            configuration["Broker:Admin:TokenFile"] = tokenFile;
            configuration["Broker:Store:Kind"] = "memory";
            await using var broker = await BrokerUnderTest.StartAsync(configuration, TestContext.Progress, services: s => s.AddSingleton<IBrokerStore>(store));
            using var channel = Grpc.Net.Client.GrpcChannel.ForAddress(broker.Address);
            using var sessionKey = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
            var client = new Protocol.V1.Broker.BrokerClient(channel);
            Task<Protocol.V1.OpenSessionResponse> OpenAsync() => client.OpenSessionAsync(new Protocol.V1.OpenSessionRequest
            {
                IdToken = issuer.MintToken("ghaport"),
                Targets = { "echo" },
                SessionPublicKey = Google.Protobuf.ByteString.CopyFrom(sessionKey.ExportSubjectPublicKeyInfo()),
            }, deadline: DateTime.UtcNow + TaskTimeouts.Default).ResponseAsync.DefaultTimeout();

            store.Reachable = false;
            var refused = Assert.ThrowsAsync<RpcException>(async () => await OpenAsync());
            // Unavailable, not Unauthenticated: the token may be fine, only the store could not be asked.
            Assert.That(refused!.StatusCode, Is.EqualTo(StatusCode.Unavailable));
            Assert.That(refused.Status.Detail, Does.Contain("state store is unreachable").And.Contain(Unreachable));

            var (revoked, _, revokeError) = await AdminCalls.SessionsAsync(broker.AdminAddress!, tokenFile, "revoke", "--claim", "run_id=1", "--block");
            Assert.That(revoked, Is.EqualTo(SessionsCommand.ExitFailure), revokeError);
            Assert.That(revokeError, Does.Contain("503").And.Contain("state store (unreachable-on-demand memory").And.Contain("may be only partly done"));
            var (listed, _, listError) = await AdminCalls.SessionsAsync(broker.AdminAddress!, tokenFile, "list");
            Assert.That(listed, Is.EqualTo(SessionsCommand.ExitFailure));
            Assert.That(listError, Does.Contain("503").And.Contain("state store (unreachable-on-demand memory").And.Contain("nothing could be read"));

            // Back by itself, without a restart.
            store.Reachable = true;
            Assert.That((await OpenAsync()).Lease.LeaseId, Does.StartWith("lse_"));
            var (listedAgain, _, listAgainError) = await AdminCalls.SessionsAsync(broker.AdminAddress!, tokenFile, "list");
            Assert.That(listedAgain, Is.Zero, listAgainError);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
