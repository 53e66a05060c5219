#pragma warning disable CA1861 // The expected values read best where they are asserted.
using System.Runtime.Versioning;
using GitHubActionsPort.Broker.Leases;
using GitHubActionsPort.Broker.Store;

namespace GitHubActionsPort.Tests.Store;

/// <summary>
/// The sqlite store against the contract, two store objects on one file standing for two processes; and what only a
/// file has: it is owner-only from the start, and everything in it outlives the store that wrote it.
/// </summary>
public sealed class SqliteBrokerStoreTests : BrokerStoreContract
{
    private string? _directory;

    /// <summary>Below a directory the store has to create, so its creation mode is tested too.</summary>
    private string FilePath => Path.Combine(_directory!, "state", StoreSettingsReader.DefaultFileName);

    private protected override IBrokerStore NewStore() => new SqliteBrokerStore(FilePath, TimeProvider.System);

    protected override Task PrepareAsync()
    {
        _directory = Directory.CreateTempSubdirectory("ghaport-store-").FullName;
        return Task.CompletedTask;
    }

    protected override Task CleanUpAsync()
    {
        Directory.Delete(_directory!, recursive: true);
        return Task.CompletedTask;
    }

    [Test]
    [Platform(Exclude = "Win", Reason = "Unix file modes")]
    [UnsupportedOSPlatform("windows")]
    public async Task File_AndItsWalAndShm_AreOwnerOnly_InAnOwnerOnlyDirectory()
    {
        // A write, so the -wal and -shm files exist.
        await Store.AddBlockAsync(Block("block-1", Now), default).DefaultTimeout();

        Assert.That(File.GetUnixFileMode(Path.GetDirectoryName(FilePath)!), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute));
        foreach (var file in new[] { FilePath, FilePath + "-wal", FilePath + "-shm" })
        {
            Assert.That(File.Exists(file), Is.True, file);
            Assert.That(File.GetUnixFileMode(file), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite), file);
        }
    }

    [Test]
    [Platform(Exclude = "Win", Reason = "Unix file modes")]
    [UnsupportedOSPlatform("windows")]
    public async Task AnExistingFileReadableByOthers_IsMadeOwnerOnly_AtOpen()
    {
        await Store.DisposeAsync();
        File.SetUnixFileMode(FilePath, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        await OpenAnotherAsync();

        Assert.That(File.GetUnixFileMode(FilePath), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
    }

    [Test]
    public async Task Everything_SurvivesDisposeAndReopen()
    {
        var lease = Lease("lease-1");
        await Store.InsertLeaseAsync(lease, default).DefaultTimeout();
        await Store.InsertLeaseAsync(Lease("lease-2"), default).DefaultTimeout();
        var end = new LeaseEndRecord(LeaseEndKind.Revoked, "revoked by ops", Now);
        await Store.EndLeaseAsync("lease-2", end, default).DefaultTimeout();
        await Store.TryUseIdTokenAsync("https://issuer", "jti-1", Now.AddMinutes(5), default).DefaultTimeout();
        await Store.TryUseProofNonceAsync("lease-1", "nonce-1", Now.AddMinutes(1), default).DefaultTimeout();
        await Store.TryOpenTunnelAsync(Tunnel("t1", "lease-1"), 1, default).DefaultTimeout();
        await Store.AddBlockAsync(Block("block-1", Now), default).DefaultTimeout();
        await Store.PublishSigningKeyAsync(new SigningKeyRecord("kid-1", [9, 8, 7], "ins-a", Now), default).DefaultTimeout();
        await Store.HeartbeatAsync(Instance("ins-a", Now), default).DefaultTimeout();
        var latest = await Store.LatestChangeAsync(default).DefaultTimeout();
        await Store.DisposeAsync();

        var reopened = await OpenAnotherAsync();

        AssertSameLease(await reopened.FindLeaseAsync("lease-1", default).DefaultTimeout(), lease);
        Assert.That((await reopened.FindLeaseAsync("lease-2", default).DefaultTimeout())!.End, Is.EqualTo(end));
        Assert.That(await reopened.TryUseIdTokenAsync("https://issuer", "jti-1", Now.AddMinutes(5), default).DefaultTimeout(), Is.False);
        Assert.That(await reopened.TryUseProofNonceAsync("lease-1", "nonce-1", Now.AddMinutes(1), default).DefaultTimeout(), Is.False);
        Assert.That(await reopened.TryOpenTunnelAsync(Tunnel("t2", "lease-1"), 1, default).DefaultTimeout(), Is.False, "t1 still holds the only slot");
        Assert.That((await reopened.BlocksAsync(default).DefaultTimeout()).Select(b => b.Id), Is.EqualTo(new[] { "block-1" }));
        Assert.That(await reopened.FindSigningKeyAsync("kid-1", default).DefaultTimeout(), Is.Not.Null);
        Assert.That((await reopened.InstancesAsync(default).DefaultTimeout()).Select(i => i.Id), Is.EqualTo(new[] { "ins-a" }));
        Assert.That(await reopened.LatestChangeAsync(default).DefaultTimeout(), Is.EqualTo(latest));
        Assert.That(((SqliteBrokerStore)reopened).SchemaVersion, Is.EqualTo(SqliteSchema.Migrations.Count));
    }

    [Test]
    public async Task AFileThatIsNotSqlite_IsUnavailable_NamingThePath()
    {
        await Store.DisposeAsync();
        var path = Path.Combine(_directory!, "not-a-db");
        await File.WriteAllTextAsync(path, new string('x', 4096));
        var store = new SqliteBrokerStore(path, TimeProvider.System);

        var ex = Assert.ThrowsAsync<StoreUnavailableException>(() => store.OpenAsync(default));

        Assert.That(ex!.Message, Does.Contain(path));
        await store.DisposeAsync();
    }
}
