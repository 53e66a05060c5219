using GitHubActionsPort.Broker.Store;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace GitHubActionsPort.Tests.Store;

/// <summary>
/// The PostgreSQL store against the contract on a real server (one per fixture, a fresh schema per test), two store
/// objects standing for two broker instances; and what only a shared server has: brokers migrating an empty
/// database at once, notifications between instances, an outage and the recovery from it, and a password that no
/// message repeats.
/// </summary>
[NonParallelizable]
public sealed class PostgresBrokerStoreTests : BrokerStoreContract
{
    private PostgresServer? _postgres;
    private string? _schema;

    private string ConnectionString => $"Host=127.0.0.1;Port={_postgres!.Port};Username={PostgresServer.User};Database=postgres";

    private protected override bool NotifiesOtherStores => true;

    [OneTimeSetUp]
    public async Task StartServerAsync()
    {
        _postgres = await PostgresServer.StartAsync().WithTimeout(TimeSpan.FromMinutes(2));
        if (_postgres is null)
        {
            Assert.Ignore("PostgreSQL is not installed: initdb, pg_ctl and postgres were found neither on PATH nor under /usr/lib/postgresql.");
        }
    }

    [OneTimeTearDown]
    public async Task StopServerAsync()
    {
        if (_postgres is not null)
        {
            await _postgres.DisposeAsync();
        }
    }

    private protected override IBrokerStore NewStore() => NewStore(ConnectionString, _schema!);

    protected override Task PrepareAsync()
    {
        _schema = "t_" + Guid.NewGuid().ToString("N")[..12];
        return Task.CompletedTask;
    }

    [Test]
    public async Task TwoStoresOpeningAtOnce_OnAnEmptyDatabase_BothSucceed_WithOneSchemaAtTheLatestVersion()
    {
        var database = "d_" + Guid.NewGuid().ToString("N")[..12];
        await ExecuteAsync(ConnectionString, $"CREATE DATABASE {database}");
        var connectionString = $"Host=127.0.0.1;Port={_postgres!.Port};Username={PostgresServer.User};Database={database}";
        await using var first = NewStore(connectionString, "ghaport");
        await using var second = NewStore(connectionString, "ghaport");
        using var start = new ManualResetEventSlim();

        var opens = new[] { first, second }.Select(store => Task.Run(async () =>
        {
            start.Wait();
            await store.OpenAsync(default);
        })).ToList();
        start.Set();
        await Task.WhenAll(opens).DefaultTimeout();

        Assert.That(first.SchemaVersion, Is.EqualTo(PostgresSchema.Latest));
        Assert.That(second.SchemaVersion, Is.EqualTo(PostgresSchema.Latest));
        Assert.That(await ScalarAsync(connectionString, "SELECT count(*) FROM ghaport.schema_version"), Is.EqualTo(PostgresSchema.Latest));
        Assert.That(await ScalarAsync(connectionString, "SELECT max(version) FROM ghaport.schema_version"), Is.EqualTo(PostgresSchema.Latest));
        Assert.That(await ScalarAsync(connectionString, "SELECT count(*) FROM pg_namespace WHERE nspname = 'ghaport'"), Is.EqualTo(1));

        // And both work on it: a lease one inserts, the other finds.
        await first.InsertLeaseAsync(Lease("lease-1"), default).DefaultTimeout();
        Assert.That(await second.FindLeaseAsync("lease-1", default).DefaultTimeout(), Is.Not.Null);
    }

    [Test]
    public async Task ARoleWithoutCreatePrivilege_OpensAndUsesASchemaMadeForIt()
    {
        var database = "d_" + Guid.NewGuid().ToString("N")[..12];
        await ExecuteAsync(ConnectionString, $"CREATE DATABASE {database}");
        var owner = $"Host=127.0.0.1;Port={_postgres!.Port};Username={PostgresServer.User};Database={database}";
        await using (var migrate = NewStore(owner, "ghaport"))
        {
            await migrate.OpenAsync(default).DefaultTimeout();
        }

        await ExecuteAsync(owner, "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ghaport_app') THEN CREATE ROLE ghaport_app LOGIN; END IF; END $$");
        await ExecuteAsync(owner, "GRANT USAGE ON SCHEMA ghaport TO ghaport_app; GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ghaport TO ghaport_app");
        await using var store = NewStore($"Host=127.0.0.1;Port={_postgres.Port};Username=ghaport_app;Database={database}", "ghaport");

        await store.OpenAsync(default).DefaultTimeout();
        await store.InsertLeaseAsync(Lease("lease-1"), default).DefaultTimeout();
        await store.AddBlockAsync(Block("block-1", Now), default).DefaultTimeout();

        Assert.That(store.SchemaVersion, Is.EqualTo(PostgresSchema.Latest));
        Assert.That(await store.LatestChangeAsync(default).DefaultTimeout(), Is.GreaterThan(0));
    }

    [Test]
    public async Task ServerStopped_CallsFailNamingTheCause_ThenTheSameStoreWorksAgain_AndHearsChangesAgain()
    {
        var store = (PostgresBrokerStore)Store;
        var other = await OpenAnotherAsync();
        await store.InsertLeaseAsync(Lease("lease-1"), default).DefaultTimeout();
        await WaitUntilAsync(() => store.ListenerConnects >= 1, "the store's first LISTEN");
        var connectsBefore = store.ListenerConnects;

        await _postgres!.StopServerAsync().WithTimeout(TimeSpan.FromMinutes(1));
        try
        {
            // The first call may meet a pooled connection the server ended as it stopped ("terminating connection
            // due to administrator command"); the pool is cleared then, and the next calls find nothing listening.
            var first = Assert.ThrowsAsync<StoreUnavailableException>(() => store.FindLeaseAsync("lease-1", default));
            Assert.That(first!.Message, Does.StartWith($"cannot reach PostgreSQL at 127.0.0.1:{_postgres.Port}: "));
            var next = Assert.ThrowsAsync<StoreUnavailableException>(() => store.TryOpenTunnelAsync(Tunnel("t1", "lease-1"), 4, default));
            Assert.That(next!.Message, Does.StartWith($"cannot reach PostgreSQL at 127.0.0.1:{_postgres.Port}: "));
            Assert.That(next.Message, Does.Contain("refused").IgnoreCase, "the cause: nothing listens on the port");
            Assert.ThrowsAsync<StoreUnavailableException>(() => store.AddBlockAsync(Block("block-1", Now), default));
        }
        finally
        {
            await _postgres.StartServerAsync().WithTimeout(TimeSpan.FromMinutes(1));
        }

        Assert.That(await store.FindLeaseAsync("lease-1", default).DefaultTimeout(), Is.Not.Null, "the same store object, without a restart");
        Assert.That(await store.TryOpenTunnelAsync(Tunnel("t1", "lease-1"), 4, default).DefaultTimeout(), Is.True);

        // The listening connection comes back by itself; then a change made through another store wakes this one.
        await WaitUntilAsync(() => store.ListenerConnects > connectsBefore, "the store's LISTEN after the server came back");
        var woken = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        store.ChangesMayBeWaiting += () => woken.TrySetResult();
        await other.AddBlockAsync(Block("block-2", Now), default).DefaultTimeout();
        await woken.Task.DefaultTimeout();
    }

    [Test]
    public async Task WrongPassword_IsUnavailable_NamingTheCause_WithoutThePassword()
    {
        const string password = "s3cret-Password-never-shown";
        await ExecuteAsync(ConnectionString, "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ghaport_pw') THEN CREATE ROLE ghaport_pw LOGIN PASSWORD 'right-one'; END IF; END $$");
        await _postgres!.RequirePasswordAsync("ghaport_pw");
        var connectionString = $"Host=127.0.0.1;Port={_postgres.Port};Username=ghaport_pw;Password={password};Database=postgres;Pooling=false";
        await WaitUntilAsync(() => LoginFails(connectionString), "the server to ask ghaport_pw for its password");
        await using var store = NewStore(connectionString, "ghaport");

        var ex = Assert.ThrowsAsync<StoreUnavailableException>(() => store.OpenAsync(default));

        Assert.That(ex!.Message, Does.Contain($"127.0.0.1:{_postgres.Port}"));
        Assert.That(ex.Message, Does.Contain("password authentication failed"));
        Assert.That(ex.ToString(), Does.Not.Contain(password));
        Assert.That(store.Describe(), Does.Not.Contain(password));
        Assert.That(store.Describe(), Is.EqualTo($"postgres 127.0.0.1:{_postgres.Port} database postgres schema ghaport"));
    }

    [Test]
    public async Task NothingListening_IsUnavailable_NamingServerAndCause()
    {
        var port = SocketIo.ReleasedLoopbackPort();
        await using var store = NewStore($"Host=127.0.0.1;Port={port};Username=postgres;Password=hunter2-secret;Database=postgres;Timeout=5", "ghaport");

        var ex = Assert.ThrowsAsync<StoreUnavailableException>(() => store.OpenAsync(default));

        Assert.That(ex!.Message, Does.StartWith($"cannot reach PostgreSQL at 127.0.0.1:{port}: "));
        Assert.That(ex.Message, Does.Contain("refused").IgnoreCase);
        Assert.That(ex.ToString(), Does.Not.Contain("hunter2-secret"));
    }

    private static PostgresBrokerStore NewStore(string connectionString, string schema) =>
        new(connectionString, schema, TimeProvider.System, NullLogger.Instance);

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TaskTimeouts.Default;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Timed out waiting for {what}.");
            }

            await Task.Delay(20);
        }
    }

    private static bool LoginFails(string connectionString)
    {
        try
        {
            using var connection = new NpgsqlConnection(connectionString);
            connection.Open();
            return false;
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.InvalidPassword)
        {
            return true;
        }
    }

    private static async Task ExecuteAsync(string connectionString, string sql)
    {
        // Unpooled: a pooled connection could be one the server ended when a test stopped it.
        await using var connection = new NpgsqlConnection(connectionString + ";Pooling=false");
        await connection.OpenAsync().DefaultTimeout();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync().DefaultTimeout();
    }

    private static async Task<long> ScalarAsync(string connectionString, string sql)
    {
        // Unpooled: a pooled connection could be one the server ended when a test stopped it.
        await using var connection = new NpgsqlConnection(connectionString + ";Pooling=false");
        await connection.OpenAsync().DefaultTimeout();
        await using var command = new NpgsqlCommand(sql, connection);
        return Convert.ToInt64(await command.ExecuteScalarAsync().DefaultTimeout(), System.Globalization.CultureInfo.InvariantCulture);
    }
}
