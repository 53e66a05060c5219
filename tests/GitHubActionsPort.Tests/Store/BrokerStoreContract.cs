#pragma warning disable CA1861 // The expected values read best where they are asserted.
using GitHubActionsPort.Broker.Leases;
using GitHubActionsPort.Broker.Store;

namespace GitHubActionsPort.Tests.Store;

/// <summary>
/// What every <see cref="IBrokerStore"/> must do, run against each store: memory (the reference), sqlite and
/// PostgreSQL. "Another store" is a second store object on the same file or schema, as a second broker instance
/// would hold (for memory, the same object: one process is all it has).
/// </summary>
public abstract class BrokerStoreContract
{
    protected static readonly DateTimeOffset Now = new(2026, 12, 3, 12, 0, 0, TimeSpan.Zero);

    private readonly List<IBrokerStore> _stores = [];
    private IBrokerStore? _store;

    /// <summary>The first store of the test, opened.</summary>
    private protected IBrokerStore Store => _store ?? throw new InvalidOperationException("no store yet");

    /// <summary>Whether a write through one store object raises <c>ChangesMayBeWaiting</c> on another (PostgreSQL's NOTIFY).</summary>
    private protected virtual bool NotifiesOtherStores => false;

    /// <summary>A new store object on this test's file or schema (not yet opened).</summary>
    private protected abstract IBrokerStore NewStore();

    /// <summary>Prepares a fresh, empty file or schema for the test.</summary>
    protected abstract Task PrepareAsync();

    [SetUp]
    public async Task OpenFirstStoreAsync()
    {
        await PrepareAsync().DefaultTimeout();
        _store = await OpenAnotherAsync();
    }

    [TearDown]
    public async Task DisposeStoresAsync()
    {
        foreach (var store in _stores.Distinct())
        {
            await store.DisposeAsync().AsTask().DefaultTimeout();
        }

        _stores.Clear();
        _store = null;
        await CleanUpAsync().DefaultTimeout();
    }

    /// <summary>Removes the test's file or schema, once every store on it is disposed.</summary>
    protected virtual Task CleanUpAsync() => Task.CompletedTask;

    /// <summary>Another store object on the same data, opened; the memory store answers with the first.</summary>
    private protected async Task<IBrokerStore> OpenAnotherAsync()
    {
        var store = NewStore();
        _stores.Add(store);
        await store.OpenAsync(CancellationToken.None).DefaultTimeout();
        return store;
    }

    // ---- Leases --------------------------------------------------------------------------------------------

    [Test]
    public async Task InsertedLease_ReadsBackAsWritten_FromAnotherStore()
    {
        var lease = Lease("lease-1");
        await Store.InsertLeaseAsync(lease, default).DefaultTimeout();

        var other = await OpenAnotherAsync();
        var found = await other.FindLeaseAsync("lease-1", default).DefaultTimeout();

        AssertSameLease(found, lease);
        Assert.That(await other.FindLeaseAsync("no-such-lease", default).DefaultTimeout(), Is.Null);
    }

    [Test]
    public async Task InsertingALeaseIdTwice_Throws()
    {
        await Store.InsertLeaseAsync(Lease("lease-1"), default).DefaultTimeout();

        Assert.ThrowsAsync<InvalidOperationException>(() => Store.InsertLeaseAsync(Lease("lease-1"), default));
    }

    [Test]
    public async Task LiveLeases_LeaveOutEndedAndExpired_OldestFirst()
    {
        await Store.InsertLeaseAsync(Lease("b-live", grantedAt: Now.AddMinutes(-1)), default).DefaultTimeout();
        await Store.InsertLeaseAsync(Lease("a-live", grantedAt: Now.AddMinutes(-2)), default).DefaultTimeout();
        await Store.InsertLeaseAsync(Lease("expired", expiresAt: Now.AddSeconds(-1)), default).DefaultTimeout();
        await Store.InsertLeaseAsync(Lease("ended"), default).DefaultTimeout();
        await Store.EndLeaseAsync("ended", new LeaseEndRecord(LeaseEndKind.Closed, "done", Now), default).DefaultTimeout();

        var live = await Store.LiveLeasesAsync(Now, default).DefaultTimeout();

        Assert.That(live.Select(l => l.Id), Is.EqualTo(new[] { "a-live", "b-live" }));
    }

    [Test]
    public async Task ExtendLease_MovesExpiry_ButNotOfAnEndedOrUnknownLease()
    {
        await Store.InsertLeaseAsync(Lease("lease-1"), default).DefaultTimeout();
        await Store.InsertLeaseAsync(Lease("ended"), default).DefaultTimeout();
        await Store.EndLeaseAsync("ended", new LeaseEndRecord(LeaseEndKind.Revoked, "by ops", Now), default).DefaultTimeout();
        var later = Now.AddHours(2).AddTicks(7);

        Assert.That(await Store.ExtendLeaseAsync("lease-1", later, default).DefaultTimeout(), Is.True);
        Assert.That(await Store.ExtendLeaseAsync("ended", later, default).DefaultTimeout(), Is.False);
        Assert.That(await Store.ExtendLeaseAsync("no-such-lease", later, default).DefaultTimeout(), Is.False);
        Assert.That((await Store.FindLeaseAsync("lease-1", default).DefaultTimeout())!.ExpiresAt, Is.EqualTo(later));
        Assert.That((await Store.FindLeaseAsync("ended", default).DefaultTimeout())!.ExpiresAt, Is.EqualTo(Now.AddHours(1)));
    }

    [Test]
    public async Task EndLease_FirstEndStands_AndUnknownIsNull()
    {
        await Store.InsertLeaseAsync(Lease("lease-1"), default).DefaultTimeout();
        var first = new LeaseEndRecord(LeaseEndKind.Revoked, "revoked by ops", Now.AddTicks(3));
        var other = await OpenAnotherAsync();

        var ended = await Store.EndLeaseAsync("lease-1", first, default).DefaultTimeout();
        var again = await other.EndLeaseAsync("lease-1", new LeaseEndRecord(LeaseEndKind.Closed, "agent closed", Now.AddMinutes(1)), default).DefaultTimeout();

        Assert.That(ended!.End, Is.EqualTo(first));
        Assert.That(again!.End, Is.EqualTo(first));
        Assert.That((await other.FindLeaseAsync("lease-1", default).DefaultTimeout())!.End, Is.EqualTo(first));
        Assert.That(await Store.EndLeaseAsync("no-such-lease", first, default).DefaultTimeout(), Is.Null);
    }

    // ---- Single use ----------------------------------------------------------------------------------------

    [Test]
    public async Task IdToken_IsUsedOnce_AcrossStores()
    {
        var other = await OpenAnotherAsync();

        Assert.That(await Store.TryUseIdTokenAsync("https://issuer", "jti-1", Now.AddMinutes(5), default).DefaultTimeout(), Is.True);
        Assert.That(await other.TryUseIdTokenAsync("https://issuer", "jti-1", Now.AddMinutes(5), default).DefaultTimeout(), Is.False);
        Assert.That(await Store.TryUseIdTokenAsync("https://issuer", "jti-1", Now.AddMinutes(5), default).DefaultTimeout(), Is.False);
        Assert.That(await other.TryUseIdTokenAsync("https://other-issuer", "jti-1", Now.AddMinutes(5), default).DefaultTimeout(), Is.True, "another issuer's jti");
    }

    [Test]
    public async Task ProofNonce_IsUsedOnce_PerLease_AcrossStores()
    {
        var other = await OpenAnotherAsync();

        Assert.That(await Store.TryUseProofNonceAsync("lease-1", "nonce-1", Now.AddMinutes(1), default).DefaultTimeout(), Is.True);
        Assert.That(await other.TryUseProofNonceAsync("lease-1", "nonce-1", Now.AddMinutes(1), default).DefaultTimeout(), Is.False);
        Assert.That(await other.TryUseProofNonceAsync("lease-2", "nonce-1", Now.AddMinutes(1), default).DefaultTimeout(), Is.True, "the same nonce for another lease");
    }

    // ---- Tunnel slots --------------------------------------------------------------------------------------

    [Test]
    public async Task TunnelSlots_CapHolds_AndACloseGivesBackOneSlotOnce()
    {
        await Store.InsertLeaseAsync(Lease("lease-1"), default).DefaultTimeout();

        Assert.That(await Store.TryOpenTunnelAsync(Tunnel("t1", "lease-1"), 2, default).DefaultTimeout(), Is.True);
        Assert.That(await Store.TryOpenTunnelAsync(Tunnel("t2", "lease-1"), 2, default).DefaultTimeout(), Is.True);
        Assert.That(await Store.TryOpenTunnelAsync(Tunnel("t3", "lease-1"), 2, default).DefaultTimeout(), Is.False);

        await Store.CloseTunnelAsync("t1", default).DefaultTimeout();
        await Store.CloseTunnelAsync("t1", default).DefaultTimeout();
        await Store.CloseTunnelAsync("no-such-tunnel", default).DefaultTimeout();

        Assert.That(await Store.TryOpenTunnelAsync(Tunnel("t3", "lease-1"), 2, default).DefaultTimeout(), Is.True, "the slot t1 gave back");
        Assert.That(await Store.TryOpenTunnelAsync(Tunnel("t4", "lease-1"), 2, default).DefaultTimeout(), Is.False, "t1's second close gave back nothing");
        var open = await Store.OpenTunnelsAsync(default).DefaultTimeout();
        Assert.That(open.Select(t => t.Id).Order(), Is.EqualTo(new[] { "t2", "t3" }));
        Assert.That(open.Single(t => t.Id == "t2"), Is.EqualTo(Tunnel("t2", "lease-1")));
    }

    [Test]
    public async Task TunnelSlots_AreRefused_ForAnEndedOrUnknownLease()
    {
        await Store.InsertLeaseAsync(Lease("lease-1"), default).DefaultTimeout();
        await Store.EndLeaseAsync("lease-1", new LeaseEndRecord(LeaseEndKind.Revoked, "by ops", Now), default).DefaultTimeout();

        Assert.That(await Store.TryOpenTunnelAsync(Tunnel("t1", "lease-1"), 4, default).DefaultTimeout(), Is.False);
        Assert.That(await Store.TryOpenTunnelAsync(Tunnel("t2", "no-such-lease"), 4, default).DefaultTimeout(), Is.False);
        Assert.That(await Store.OpenTunnelsAsync(default).DefaultTimeout(), Is.Empty);
    }

    [Test]
    public async Task EightRacingOpens_ThroughTwoStores_WithCapFour_AdmitExactlyFour()
    {
        await Store.InsertLeaseAsync(Lease("lease-1"), default).DefaultTimeout();
        var other = await OpenAnotherAsync();
        using var start = new ManualResetEventSlim();

        var opens = Enumerable.Range(0, 8).Select(i => Task.Run(async () =>
        {
            start.Wait();
            return await (i % 2 == 0 ? Store : other).TryOpenTunnelAsync(Tunnel($"t{i}", "lease-1"), 4, default);
        })).ToList();
        start.Set();
        var admitted = await Task.WhenAll(opens).DefaultTimeout();

        Assert.That(admitted.Count(a => a), Is.EqualTo(4));
        Assert.That((await other.OpenTunnelsAsync(default).DefaultTimeout()).Count, Is.EqualTo(4));
    }

    // ---- Standing blocks -----------------------------------------------------------------------------------

    [Test]
    public async Task Blocks_AreListedOldestFirst_AndRemovedOnce()
    {
        var newer = Block("block-b", Now.AddMinutes(1));
        var older = Block("block-a", Now) with { RevokedLease = "lease-9" };
        await Store.AddBlockAsync(newer, default).DefaultTimeout();
        await Store.AddBlockAsync(older, default).DefaultTimeout();
        var other = await OpenAnotherAsync();

        var blocks = await other.BlocksAsync(default).DefaultTimeout();
        Assert.That(blocks.Select(b => b.Id), Is.EqualTo(new[] { "block-a", "block-b" }));
        AssertSameBlock(blocks[0], older);

        AssertSameBlock(await other.RemoveBlockAsync("block-a", default).DefaultTimeout(), older);
        Assert.That(await Store.RemoveBlockAsync("block-a", default).DefaultTimeout(), Is.Null);
        Assert.That((await Store.BlocksAsync(default).DefaultTimeout()).Select(b => b.Id), Is.EqualTo(new[] { "block-b" }));
    }

    // ---- Lease-signing keys --------------------------------------------------------------------------------

    [Test]
    public async Task SigningKey_PublishedTwice_KeepsTheFirst_AndIsFoundByAnotherStore()
    {
        var key = new SigningKeyRecord("kid-1", [1, 2, 3, 4], "ins-a", Now);
        await Store.PublishSigningKeyAsync(key, default).DefaultTimeout();
        await Store.PublishSigningKeyAsync(key with { InstanceId = "ins-b", PublishedAt = Now.AddHours(1) }, default).DefaultTimeout();
        var other = await OpenAnotherAsync();

        var found = await other.FindSigningKeyAsync("kid-1", default).DefaultTimeout();

        Assert.That(found, Is.Not.Null);
        Assert.That(found!.PublicKey, Is.EqualTo(key.PublicKey));
        Assert.That(found with { PublicKey = key.PublicKey }, Is.EqualTo(key));
        Assert.That(await other.FindSigningKeyAsync("kid-2", default).DefaultTimeout(), Is.Null);
    }

    // ---- Instances -----------------------------------------------------------------------------------------

    [Test]
    public async Task Instances_HeartbeatAndState_NewestFirst_AndAHeartbeatDoesNotReviveALostOne()
    {
        await Store.HeartbeatAsync(Instance("ins-a", Now), default).DefaultTimeout();
        await Store.HeartbeatAsync(Instance("ins-b", Now.AddSeconds(1)), default).DefaultTimeout();
        await Store.HeartbeatAsync(Instance("ins-a", Now.AddSeconds(2)) with { Address = "http://10.0.0.1:8470" }, default).DefaultTimeout();
        await Store.SetInstanceStateAsync("ins-b", InstanceState.Draining, default).DefaultTimeout();

        var instances = await Store.InstancesAsync(default).DefaultTimeout();
        Assert.That(instances.Select(i => (i.Id, i.State)), Is.EqualTo(new[] { ("ins-a", InstanceState.Live), ("ins-b", InstanceState.Draining) }));
        Assert.That(instances[0], Is.EqualTo(Instance("ins-a", Now.AddSeconds(2)) with { Address = "http://10.0.0.1:8470" }));

        await Store.SetInstanceStateAsync("ins-a", InstanceState.Gone, default).DefaultTimeout();
        await Store.HeartbeatAsync(Instance("ins-a", Now.AddSeconds(3)), default).DefaultTimeout();
        Assert.That((await Store.InstancesAsync(default).DefaultTimeout()).Single(i => i.Id == "ins-a").State, Is.EqualTo(InstanceState.Gone));
    }

    [Test]
    public async Task ClaimLostInstances_RacedByTwoStores_ClaimsEachOnce_AndGivesBackItsSlots()
    {
        await Store.InsertLeaseAsync(Lease("lease-1"), default).DefaultTimeout();
        await Store.HeartbeatAsync(Instance("ins-dead", Now.AddMinutes(-5)), default).DefaultTimeout();
        await Store.HeartbeatAsync(Instance("ins-live", Now), default).DefaultTimeout();
        await Store.TryOpenTunnelAsync(Tunnel("t-dead-1", "lease-1", "ins-dead"), 3, default).DefaultTimeout();
        await Store.TryOpenTunnelAsync(Tunnel("t-dead-2", "lease-1", "ins-dead"), 3, default).DefaultTimeout();
        await Store.TryOpenTunnelAsync(Tunnel("t-live", "lease-1", "ins-live"), 3, default).DefaultTimeout();
        var other = await OpenAnotherAsync();
        using var start = new ManualResetEventSlim();

        var claims = new[] { Store, other, Store, other }.Select(store => Task.Run(async () =>
        {
            start.Wait();
            return await store.ClaimLostInstancesAsync(Now.AddMinutes(-1), default);
        })).ToList();
        start.Set();
        var results = await Task.WhenAll(claims).DefaultTimeout();

        var claimed = results.SelectMany(r => r).ToList();
        Assert.That(claimed.Select(c => c.Instance.Id), Is.EqualTo(new[] { "ins-dead" }), "claimed exactly once");
        Assert.That(claimed[0].Instance.State, Is.EqualTo(InstanceState.Lost));
        Assert.That(claimed[0].Tunnels.Select(t => t.Id).Order(), Is.EqualTo(new[] { "t-dead-1", "t-dead-2" }));
        Assert.That((await Store.OpenTunnelsAsync(default).DefaultTimeout()).Select(t => t.Id), Is.EqualTo(new[] { "t-live" }));
        Assert.That(await Store.TryOpenTunnelAsync(Tunnel("t-new-1", "lease-1"), 3, default).DefaultTimeout(), Is.True, "the lost instance's slots came back");
        Assert.That(await Store.TryOpenTunnelAsync(Tunnel("t-new-2", "lease-1"), 3, default).DefaultTimeout(), Is.True);
        Assert.That(await Store.TryOpenTunnelAsync(Tunnel("t-new-3", "lease-1"), 3, default).DefaultTimeout(), Is.False);
        Assert.That((await Store.InstancesAsync(default).DefaultTimeout()).Single(i => i.Id == "ins-dead").State, Is.EqualTo(InstanceState.Lost));
    }

    // ---- Changes -------------------------------------------------------------------------------------------

    [Test]
    public async Task Changes_AreNumberedInOrder_AndReadByAnotherStore()
    {
        var other = await OpenAnotherAsync();
        var start = await other.LatestChangeAsync(default).DefaultTimeout();
        await Store.InsertLeaseAsync(Lease("lease-1"), default).DefaultTimeout();
        await Store.HeartbeatAsync(Instance("ins-a", Now), default).DefaultTimeout();

        await Store.ExtendLeaseAsync("lease-1", Now.AddHours(2), default).DefaultTimeout();
        await other.AddBlockAsync(Block("block-1", Now), default).DefaultTimeout();
        await Store.EndLeaseAsync("lease-1", new LeaseEndRecord(LeaseEndKind.Blocked, "blocked", Now), default).DefaultTimeout();
        await other.SetInstanceStateAsync("ins-a", InstanceState.Draining, default).DefaultTimeout();
        await Store.RemoveBlockAsync("block-1", default).DefaultTimeout();
        await Store.EndLeaseAsync("lease-1", new LeaseEndRecord(LeaseEndKind.Closed, "again", Now), default).DefaultTimeout();

        var changes = await other.ChangesSinceAsync(start, 100, default).DefaultTimeout();
        Assert.That(changes.Select(c => (c.Kind, c.Id)), Is.EqualTo(new[]
        {
            (StoreChangeKind.Lease, "lease-1"),
            (StoreChangeKind.Block, "block-1"),
            (StoreChangeKind.Lease, "lease-1"),
            (StoreChangeKind.Instance, "ins-a"),
            (StoreChangeKind.Block, "block-1"),
        }), "an end that did not stand publishes nothing");
        Assert.That(changes.Select(c => c.Sequence), Is.Ordered.Ascending);
        Assert.That(changes.Select(c => c.Sequence).Distinct().Count(), Is.EqualTo(5));
        Assert.That(await Store.LatestChangeAsync(default).DefaultTimeout(), Is.EqualTo(changes[^1].Sequence));
        Assert.That((await other.ChangesSinceAsync(changes[1].Sequence, 2, default).DefaultTimeout()).Select(c => c.Sequence), Is.EqualTo(new[] { changes[2].Sequence, changes[3].Sequence }));
    }

    [Test]
    public async Task ChangesMayBeWaiting_IsRaisedByAWrite_AndOnAnotherStoreWhereItListens()
    {
        var other = await OpenAnotherAsync();
        var here = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var there = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Store.ChangesMayBeWaiting += () => here.TrySetResult();
        other.ChangesMayBeWaiting += () => there.TrySetResult();

        await Store.AddBlockAsync(Block("block-1", Now), default).DefaultTimeout();

        await here.Task.DefaultTimeout();
        if (NotifiesOtherStores || ReferenceEquals(other, Store))
        {
            await there.Task.DefaultTimeout();
        }
    }

    // ---- Prune ---------------------------------------------------------------------------------------------

    [Test]
    public async Task Prune_DeletesWhatNoLongerMatters_AndKeepsTheChangeNumber()
    {
        await Store.InsertLeaseAsync(Lease("old", expiresAt: Now.AddMinutes(-30), maxExpiresAt: Now.AddMinutes(-10)), default).DefaultTimeout();
        await Store.InsertLeaseAsync(Lease("current"), default).DefaultTimeout();
        await Store.TryOpenTunnelAsync(Tunnel("t-old", "old"), 4, default).DefaultTimeout();
        await Store.TryUseIdTokenAsync("https://issuer", "jti-old", Now.AddMinutes(-1), default).DefaultTimeout();
        await Store.TryUseIdTokenAsync("https://issuer", "jti-new", Now.AddMinutes(1), default).DefaultTimeout();
        await Store.TryUseProofNonceAsync("current", "nonce-old", Now.AddMinutes(-1), default).DefaultTimeout();
        await Store.TryUseProofNonceAsync("current", "nonce-new", Now.AddMinutes(1), default).DefaultTimeout();
        await Store.AddBlockAsync(Block("block-1", Now), default).DefaultTimeout();
        await Store.RemoveBlockAsync("block-1", default).DefaultTimeout();
        var latest = await Store.LatestChangeAsync(default).DefaultTimeout();

        // Changes are stamped with the real clock, so "before" is far ahead to take every one.
        await Store.PruneAsync(Now, DateTimeOffset.UtcNow.AddDays(1), default).DefaultTimeout();

        Assert.That(await Store.FindLeaseAsync("old", default).DefaultTimeout(), Is.Null);
        Assert.That(await Store.FindLeaseAsync("current", default).DefaultTimeout(), Is.Not.Null);
        Assert.That(await Store.OpenTunnelsAsync(default).DefaultTimeout(), Is.Empty);
        Assert.That(await Store.TryUseIdTokenAsync("https://issuer", "jti-old", Now.AddMinutes(1), default).DefaultTimeout(), Is.True, "pruned, so usable again");
        Assert.That(await Store.TryUseIdTokenAsync("https://issuer", "jti-new", Now.AddMinutes(1), default).DefaultTimeout(), Is.False);
        Assert.That(await Store.TryUseProofNonceAsync("current", "nonce-old", Now.AddMinutes(1), default).DefaultTimeout(), Is.True);
        Assert.That(await Store.TryUseProofNonceAsync("current", "nonce-new", Now.AddMinutes(1), default).DefaultTimeout(), Is.False);
        Assert.That(await Store.LatestChangeAsync(default).DefaultTimeout(), Is.GreaterThanOrEqualTo(latest), "never goes back");

        await Store.AddBlockAsync(Block("block-2", Now), default).DefaultTimeout();
        var next = await Store.ChangesSinceAsync(latest, 10, default).DefaultTimeout();
        Assert.That(next.Select(c => c.Id), Is.EqualTo(new[] { "block-2" }));
        Assert.That(next[0].Sequence, Is.GreaterThan(latest), "numbers are never reused");
    }

    // ---- Records -------------------------------------------------------------------------------------------

    private protected static LeaseRecord Lease(string id, DateTimeOffset? grantedAt = null, DateTimeOffset? expiresAt = null, DateTimeOffset? maxExpiresAt = null) => new(
        Id: id,
        Issuer: "https://token.actions.githubusercontent.com",
        Subject: "repo:acme/app:ref:refs/heads/main",
        TokenId: "jti-" + id,
        TokenExpiresAt: Now.AddMinutes(5).AddTicks(1),
        Claims: new Dictionary<string, string> { ["repository"] = "acme/app", ["run_id"] = "1234", ["run_attempt"] = "2", ["ünïcode"] = "✓ \"quoted\"" },
        NonStringClaims: ["run_number"],
        Targets: ["db", "cache"],
        GrantedAt: grantedAt ?? Now,
        ExpiresAt: expiresAt ?? Now.AddHours(1),
        MaxExpiresAt: maxExpiresAt ?? Now.AddHours(6),
        MaxConnections: 4,
        SessionKeyThumbprint: "thumb-" + id,
        SessionPublicKey: [0, 1, 2, 254, 255],
        GrantedBy: "ins-a",
        End: null);

    private protected static TunnelRecord Tunnel(string id, string leaseId, string instanceId = "ins-a") => new(id, leaseId, "db", instanceId, Now.AddTicks(id.Length));

    private protected static BlockRecord Block(string id, DateTimeOffset createdAt) =>
        new(id, new Dictionary<string, string> { ["repository"] = "acme/*" }, "incident 42", "admin", createdAt, null);

    private protected static InstanceRecord Instance(string id, DateTimeOffset heartbeatAt) => new(id, "http://127.0.0.1:8470", Now.AddHours(-1), heartbeatAt, InstanceState.Live);

    private protected static void AssertSameLease(LeaseRecord? actual, LeaseRecord expected)
    {
        Assert.That(actual, Is.Not.Null);
        Assert.That(actual!.SessionPublicKey, Is.EqualTo(expected.SessionPublicKey));
        Assert.That(actual.Claims, Is.EquivalentTo(expected.Claims));
        Assert.That(actual.NonStringClaims, Is.EqualTo(expected.NonStringClaims));
        Assert.That(actual.Targets, Is.EqualTo(expected.Targets));
        Assert.That(
            actual with { SessionPublicKey = expected.SessionPublicKey, Claims = expected.Claims, NonStringClaims = expected.NonStringClaims, Targets = expected.Targets },
            Is.EqualTo(expected));
        Assert.That(actual.RunId, Is.EqualTo("1234"));
    }

    private protected static void AssertSameBlock(BlockRecord? actual, BlockRecord expected)
    {
        Assert.That(actual, Is.Not.Null);
        Assert.That(actual!.Claims, Is.EquivalentTo(expected.Claims));
        Assert.That(actual with { Claims = expected.Claims }, Is.EqualTo(expected));
    }
}
