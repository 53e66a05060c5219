using System.Data.Common;
using System.Security.Cryptography;
using System.Text;
using Npgsql;

namespace GitHubActionsPort.Broker.Store;

/// <summary>
/// The store several broker instances share: a PostgreSQL schema (<c>Broker:Store:Schema</c>). Calls run on
/// Npgsql's pool; a call that cannot reach the server throws <see cref="StoreUnavailableException"/> naming the
/// server and the cause (never the password), and the pool's idle connections are dropped so the next call, once the
/// server is back, dials afresh. Changes are numbered in commit order (publishing transactions take one advisory lock
/// in turn) and announced with <c>NOTIFY</c> in the same transaction; a listening connection of its own hears them.
/// </summary>
internal sealed class PostgresBrokerStore : SqlBrokerStore
{
    private readonly NpgsqlDataSource _source;
    private readonly NpgsqlDataSource _listenSource;
    private readonly PostgresFailure _failure;
    private readonly PostgresChangeListener _listener;
    private readonly string _quotedSchema;
    private readonly string _database;
    private readonly string _channel;
    private readonly long _changeLock;
    private readonly long _migrationLock;

    public PostgresBrokerStore(string connectionString, string schema, TimeProvider time, ILogger logger)
        : base($"\"{CheckSchema(schema)}\".", time)
    {
        ArgumentException.ThrowIfNullOrEmpty(connectionString);
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        if (string.IsNullOrEmpty(builder.ApplicationName))
        {
            builder.ApplicationName = "ghaport-broker";
        }

        Schema = schema;
        _quotedSchema = $"\"{schema}\"";
        _database = builder.Database ?? builder.Username ?? "postgres";
        _failure = new PostgresFailure($"{builder.Host}:{builder.Port}", builder.Password);
        _channel = $"{schema}_changes";
        _changeLock = LockKey("changes", schema);
        _migrationLock = LockKey("migrate", schema);
        _source = NpgsqlDataSource.Create(builder.ConnectionString);

        // The listening connection is held for good: outside the pool, with a keepalive so a silent network loss is
        // noticed rather than waited on for ever.
        var listen = new NpgsqlConnectionStringBuilder(builder.ConnectionString) { Pooling = false, KeepAlive = 15 };
        _listenSource = NpgsqlDataSource.Create(listen.ConnectionString);
        _listener = new PostgresChangeListener(_listenSource, _channel, RaiseChangesMayBeWaiting, _failure, time, logger);
    }

    public override StoreKind Kind => StoreKind.Postgres;

    public string Schema { get; }

    /// <summary>How many times the listening connection has been (re)established.</summary>
    internal int ListenerConnects => _listener.Connects;

    public override string Describe() => $"postgres {_failure.Server} database {_database} schema {Schema}";

    public override async Task OpenAsync(CancellationToken cancellationToken)
    {
        await RunAsync(
            async connection =>
            {
                var npgsql = (NpgsqlConnection)connection;
                await ExecuteAsync(connection, null, "SELECT pg_advisory_lock(@key)", cancellationToken, ("key", _migrationLock)).ConfigureAwait(false);
                try
                {
                    SchemaVersion = await PostgresSchema.MigrateAsync(npgsql, _quotedSchema, cancellationToken).ConfigureAwait(false);
                }
                finally
                {
                    // Also let go when the connection breaks: a session's advisory locks end with it.
                    await ExecuteAsync(connection, null, "SELECT pg_advisory_unlock(@key)", CancellationToken.None, ("key", _migrationLock)).ConfigureAwait(false);
                }
            },
            cancellationToken).ConfigureAwait(false);
        await _listener.StartAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public override async ValueTask DisposeAsync()
    {
        await _listener.DisposeAsync().ConfigureAwait(false);
        await _listenSource.DisposeAsync().ConfigureAwait(false);
        await _source.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>One statement: the slot is taken (below the cap, lease not ended) and the tunnel recorded, or neither.</summary>
    public override Task<bool> TryOpenTunnelAsync(TunnelRecord tunnel, int maxConnections, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(tunnel);

        // Two instances racing for the last slot: the second's UPDATE waits for the first's row lock, then checks
        // open_tunnels again on the row as the first left it, and finds the cap reached.
        return RunAsync(
            async connection => await ExecuteAsync(
                connection,
                null,
                $"WITH slot AS (UPDATE {Leases} SET open_tunnels = open_tunnels + 1 WHERE id = @lease_id AND end_kind IS NULL AND open_tunnels < @max RETURNING id) "
                + $"INSERT INTO {Tunnels} (id, lease_id, target, instance_id, opened_at) SELECT @id, slot.id, @target, @instance_id, @opened_at FROM slot",
                cancellationToken,
                [.. TunnelParameters(tunnel), ("max", maxConnections)]).ConfigureAwait(false) == 1,
            hotPath: true,
            cancellationToken);
    }

    /// <summary>One statement: the counter goes down only for a row this statement deleted.</summary>
    public override Task CloseTunnelAsync(string tunnelId, CancellationToken cancellationToken) =>
        RunAsync(
            connection => ExecuteAsync(
                connection,
                null,
                $"WITH gone AS (DELETE FROM {Tunnels} WHERE id = @id RETURNING lease_id) "
                + $"UPDATE {Leases} SET open_tunnels = open_tunnels - 1 FROM gone WHERE {Leases}.id = gone.lease_id AND open_tunnels > 0",
                cancellationToken,
                ("id", tunnelId)),
            hotPath: true,
            cancellationToken);

    /// <summary>Every write is as durable as the server makes it (its own <c>synchronous_commit</c>): none is on a hot path of ours.</summary>
    protected override async Task<DbConnection> ConnectAsync(bool hotPath, CancellationToken cancellationToken)
    {
        try
        {
            return await _source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && IsStoreFailure(ex))
        {
            throw Unavailable(ex);
        }
    }

    protected override async Task<DbTransaction> BeginWriteAsync(DbConnection connection, bool publishes, CancellationToken cancellationToken)
    {
        var transaction = await ((NpgsqlConnection)connection).BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        if (publishes)
        {
            // Held to the commit: the next publisher takes its change number only after this one's is visible, so
            // numbers become visible in order and a reader never skips one that commits late. Taken first, before
            // any row lock, so it cannot take part in a deadlock.
            try
            {
                await ExecuteAsync(connection, transaction, "SELECT pg_advisory_xact_lock(@key)", cancellationToken, ("key", _changeLock)).ConfigureAwait(false);
            }
            catch
            {
                await transaction.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }

        return transaction;
    }

    protected override async Task PublishAsync(DbConnection connection, DbTransaction transaction, StoreChangeKind kind, string id, CancellationToken cancellationToken)
    {
        await base.PublishAsync(connection, transaction, kind, id, cancellationToken).ConfigureAwait(false);

        // Delivered at commit, to every listening instance (this one too); PostgreSQL folds repeats in one transaction.
        await ExecuteAsync(connection, transaction, "SELECT pg_notify(@channel, '')", cancellationToken, ("channel", _channel)).ConfigureAwait(false);
    }

    /// <summary>
    /// A pooled connection the server ended while it sat idle (a restart, a failover: SQLSTATE 57P01-57P03): the
    /// server aborted whatever it was given, so the call ran nowhere. The pool's other idle connections went the same
    /// way; they are dropped, and the call tried once more on a new one, rather than failing once per pooled
    /// connection after every restart of the server.
    /// </summary>
    protected override bool CanRetry(Exception exception)
    {
        if (exception is PostgresException { SqlState: PostgresErrorCodes.AdminShutdown or PostgresErrorCodes.CrashShutdown or PostgresErrorCodes.CannotConnectNow })
        {
            _source.Clear();
            return true;
        }

        return false;
    }

    protected override bool IsStoreFailure(Exception exception) => exception is NpgsqlException or TimeoutException or IOException;

    protected override StoreUnavailableException Unavailable(Exception exception)
    {
        if (PostgresFailure.IsConnectionLost(exception))
        {
            // The server went away or cannot be reached: idle connections in the pool are likely dead too; drop them
            // so the first call after the server is back does not meet one.
            _source.Clear();
        }

        return _failure.Unavailable(exception);
    }

    /// <summary>A plain identifier (checked again here, though the settings reader checks it first): it goes into SQL quoted.</summary>
    private static string CheckSchema(string schema) =>
        StoreSettingsReader.IsPlainIdentifier(schema) ? schema : throw new ArgumentException($"'{schema}' is not a plain identifier", nameof(schema));

    /// <summary>A 64-bit advisory lock key of the schema's own, so two schemas in one database do not wait on each other.</summary>
    private static long LockKey(string purpose, string schema) =>
        BitConverter.ToInt64(SHA256.HashData(Encoding.UTF8.GetBytes($"ghaport-broker {purpose} {schema}")), 0);
}
