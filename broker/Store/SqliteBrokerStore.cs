using System.Data.Common;
using System.Globalization;
using Microsoft.Data.Sqlite;

namespace GitHubActionsPort.Broker.Store;

/// <summary>
/// The default store: one sqlite file (WAL) beside the lease signing key, owner-only. A single broker's restart,
/// even after SIGKILL, loses nothing it had acknowledged; several processes may share the file
/// (sqlite runs one writer at a time, so change numbers follow commit order).
/// </summary>
/// <remarks>
/// Durability, per write: <c>synchronous=FULL</c> (the commit is on disk before the call returns) for everything but
/// the writes made for every tunnel, which use <c>NORMAL</c>. With WAL, NORMAL survives a killed process (SIGKILL)
/// but could lose the last commits to a power cut or a kernel crash; FULL survives those too, at one fsync per commit
/// (about 4-5 ms here against 0.1-0.3 ms). So a lease grant, an id-token's use, a block, a revocation, a renewal or an
/// instance's state outlives even a power cut (the kill switch must not come undone by a host reboot), while a proof's
/// nonce and a tunnel's slot, written for every tunnel, may not: a tunnel does not outlive its host either, and the
/// next FULL commit makes every earlier one durable with it.
/// </remarks>
internal sealed class SqliteBrokerStore : SqlBrokerStore
{
    /// <summary>How long a call waits for another process's write to finish before it fails.</summary>
    private const int BusyTimeoutMilliseconds = 10_000;

    private readonly string _path;
    private readonly string _connectionString;

    public SqliteBrokerStore(string path, TimeProvider time)
        : base(string.Empty, time)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        _path = Path.GetFullPath(path);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = _path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
            ForeignKeys = true,
            DefaultTimeout = BusyTimeoutMilliseconds / 1000,
        }.ToString();
    }

    public override StoreKind Kind => StoreKind.Sqlite;

    /// <summary>The file, for the start-up line and tests.</summary>
    public string FilePath => _path;

    public override string Describe() => $"sqlite {_path}";

    public override async Task OpenAsync(CancellationToken cancellationToken)
    {
        try
        {
            SqliteStoreFile.Prepare(_path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new StoreUnavailableException($"the sqlite store {_path} cannot be created: {ex.Message}", ex);
        }

        await RunAsync(
            async connection =>
            {
                // WAL is a property of the file: set once, every later connection finds it.
                var mode = await ScalarAsync<string>(connection, null, "PRAGMA journal_mode=WAL", cancellationToken).ConfigureAwait(false);
                if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
                {
                    throw new StoreUnavailableException($"the sqlite store {_path} cannot use write-ahead logging (journal mode is {mode})");
                }

                SchemaVersion = await MigrateAsync(connection, cancellationToken).ConfigureAwait(false);
            },
            cancellationToken).ConfigureAwait(false);
    }

    public override ValueTask DisposeAsync()
    {
        // Closes the pooled connections, so the file is let go (and its WAL checkpointed) when this store is done.
        using var connection = new SqliteConnection(_connectionString);
        SqliteConnection.ClearPool(connection);
        return ValueTask.CompletedTask;
    }

    protected override async Task<DbConnection> ConnectAsync(bool hotPath, CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);

            // Per connection, so set on each (a pooled one keeps them; setting them again costs microseconds).
            using var pragmas = connection.CreateCommand();
            pragmas.CommandText = string.Create(CultureInfo.InvariantCulture, $"PRAGMA synchronous={(hotPath ? "NORMAL" : "FULL")}; PRAGMA busy_timeout={BusyTimeoutMilliseconds};");
            await pragmas.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && IsStoreFailure(ex))
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw Unavailable(ex);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    protected override Task<DbTransaction> BeginWriteAsync(DbConnection connection, bool publishes, CancellationToken cancellationToken) =>
        // BEGIN IMMEDIATE: the write lock is taken at the start, so a transaction never reads, then finds it must
        // wait for (or lose to) another writer; writers run one at a time, across processes too.
        Task.FromResult<DbTransaction>(((SqliteConnection)connection).BeginTransaction(deferred: false));

    protected override bool IsStoreFailure(Exception exception) => exception is SqliteException or IOException or UnauthorizedAccessException;

    protected override StoreUnavailableException Unavailable(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        return new StoreUnavailableException($"the sqlite store {_path} failed: {exception.Message}", exception);
    }

    private async Task<int> MigrateAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        var transaction = await BeginWriteAsync(connection, publishes: false, cancellationToken).ConfigureAwait(false);
        await using (transaction.ConfigureAwait(false))
        {
            var version = await ScalarAsync<int>(connection, transaction, "PRAGMA user_version", cancellationToken).ConfigureAwait(false);
            if (version > SqliteSchema.Migrations.Count)
            {
                throw new StoreUnavailableException(
                    $"the sqlite store {_path} is at schema version {version}, newer than this broker knows ({SqliteSchema.Migrations.Count}): run the newer broker, or restore a copy from before it");
            }

            for (var next = version + 1; next <= SqliteSchema.Migrations.Count; next++)
            {
                await ExecuteAsync(connection, transaction, SqliteSchema.Migrations[next - 1], cancellationToken).ConfigureAwait(false);
                await ExecuteAsync(connection, transaction, string.Create(CultureInfo.InvariantCulture, $"PRAGMA user_version = {next}"), cancellationToken).ConfigureAwait(false);
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            return SqliteSchema.Migrations.Count;
        }
    }
}
