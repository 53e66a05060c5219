using System.Data.Common;
using GitHubActionsPort.Broker.Leases;

namespace GitHubActionsPort.Broker.Store;

/// <summary>
/// What the sqlite and PostgreSQL stores share: the tables' shape and every statement both engines read alike. Each
/// call takes a pooled connection, runs its statements (a transaction where more than one must hold together) and
/// gives the connection back; the engine supplies the connection, how a writing transaction begins (sqlite's writers
/// are serialised by <c>BEGIN IMMEDIATE</c>, PostgreSQL's publishers by an advisory lock), and what a failure means.
/// </summary>
/// <remarks>
/// Times are stored as UTC ticks (100 ns since 0001-01-01) in 64-bit integers: exact both ways, whatever the
/// engine's own time type rounds to. Claims and lists are JSON text; enums their names.
/// </remarks>
internal abstract class SqlBrokerStore : IBrokerStore
{
    private const string LeaseColumns = "id, issuer, subject, token_id, token_expires_at, claims, non_string_claims, targets, granted_at, "
        + "expires_at, max_expires_at, max_connections, session_key_thumbprint, session_public_key, granted_by, end_kind, end_reason, ended_at";

    private const string TunnelColumns = "id, lease_id, target, instance_id, opened_at";
    private const string BlockColumns = "id, claims, reason, created_by, created_at, revoked_lease";
    private const string InstanceColumns = "id, address, started_at, heartbeat_at, state";

    private readonly TimeProvider _time;

    /// <summary><paramref name="tablePrefix"/> goes before each table's name: empty, or a quoted schema and a dot.</summary>
    protected SqlBrokerStore(string tablePrefix, TimeProvider time)
    {
        _time = time;
        Leases = tablePrefix + "leases";
        IdTokens = tablePrefix + "id_tokens";
        ProofNonces = tablePrefix + "proof_nonces";
        Tunnels = tablePrefix + "tunnels";
        Blocks = tablePrefix + "blocks";
        SigningKeys = tablePrefix + "signing_keys";
        Instances = tablePrefix + "instances";
        Changes = tablePrefix + "changes";
    }

    public abstract StoreKind Kind { get; }

    public event Action? ChangesMayBeWaiting;

    /// <summary>The schema version the store is at once <see cref="OpenAsync"/> has run (0 before).</summary>
    public int SchemaVersion { get; protected set; }

    protected string Leases { get; }

    protected string IdTokens { get; }

    protected string ProofNonces { get; }

    protected string Tunnels { get; }

    protected string Blocks { get; }

    protected string SigningKeys { get; }

    protected string Instances { get; }

    protected string Changes { get; }

    public abstract string Describe();

    public abstract Task OpenAsync(CancellationToken cancellationToken);

    public abstract ValueTask DisposeAsync();

    // ---- Leases --------------------------------------------------------------------------------------------

    public Task InsertLeaseAsync(LeaseRecord lease, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lease);
        return RunAsync(
            async connection =>
            {
                var inserted = await ExecuteAsync(
                    connection,
                    null,
                    $"INSERT INTO {Leases} ({LeaseColumns}, open_tunnels) VALUES (@id, @issuer, @subject, @token_id, @token_expires_at, @claims, "
                    + "@non_string_claims, @targets, @granted_at, @expires_at, @max_expires_at, @max_connections, @thumbprint, @public_key, @granted_by, "
                    + "@end_kind, @end_reason, @ended_at, 0) ON CONFLICT (id) DO NOTHING",
                    cancellationToken,
                    ("id", lease.Id),
                    ("issuer", lease.Issuer),
                    ("subject", lease.Subject),
                    ("token_id", lease.TokenId),
                    ("token_expires_at", Ticks(lease.TokenExpiresAt)),
                    ("claims", StoreJson.Write(lease.Claims)),
                    ("non_string_claims", StoreJson.Write(lease.NonStringClaims)),
                    ("targets", StoreJson.Write(lease.Targets)),
                    ("granted_at", Ticks(lease.GrantedAt)),
                    ("expires_at", Ticks(lease.ExpiresAt)),
                    ("max_expires_at", Ticks(lease.MaxExpiresAt)),
                    ("max_connections", lease.MaxConnections),
                    ("thumbprint", lease.SessionKeyThumbprint),
                    ("public_key", lease.SessionPublicKey),
                    ("granted_by", lease.GrantedBy),
                    ("end_kind", lease.End?.Kind.ToString()),
                    ("end_reason", lease.End?.Reason),
                    ("ended_at", lease.End is { } end ? Ticks(end.At) : null)).ConfigureAwait(false);
                return inserted == 1 ? true : throw new InvalidOperationException($"lease {lease.Id} is already recorded");
            },
            cancellationToken);
    }

    public Task<LeaseRecord?> FindLeaseAsync(string leaseId, CancellationToken cancellationToken) =>
        RunAsync(connection => FindLeaseAsync(connection, null, leaseId, cancellationToken), cancellationToken);

    public Task<IReadOnlyList<LeaseRecord>> LiveLeasesAsync(DateTimeOffset now, CancellationToken cancellationToken) =>
        RunAsync(
            connection => QueryAsync(
                connection,
                null,
                $"SELECT {LeaseColumns} FROM {Leases} WHERE end_kind IS NULL AND expires_at > @now ORDER BY granted_at, id",
                ReadLease,
                cancellationToken,
                ("now", Ticks(now))),
            cancellationToken);

    public Task<bool> ExtendLeaseAsync(string leaseId, DateTimeOffset expiresAt, CancellationToken cancellationToken) =>
        WriteAsync(
            async (connection, transaction) =>
            {
                var updated = await ExecuteAsync(
                    connection,
                    transaction,
                    $"UPDATE {Leases} SET expires_at = @expires_at WHERE id = @id AND end_kind IS NULL",
                    cancellationToken,
                    ("id", leaseId),
                    ("expires_at", Ticks(expiresAt))).ConfigureAwait(false);
                if (updated == 0)
                {
                    return false;
                }

                await PublishAsync(connection, transaction, StoreChangeKind.Lease, leaseId, cancellationToken).ConfigureAwait(false);
                return true;
            },
            publishes: true,
            cancellationToken);

    public Task<LeaseRecord?> EndLeaseAsync(string leaseId, LeaseEndRecord end, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(end);
        return WriteAsync(
            async (connection, transaction) =>
            {
                // The first end stands: only a lease not yet ended takes this one.
                var updated = await ExecuteAsync(
                    connection,
                    transaction,
                    $"UPDATE {Leases} SET end_kind = @kind, end_reason = @reason, ended_at = @at WHERE id = @id AND end_kind IS NULL",
                    cancellationToken,
                    ("id", leaseId),
                    ("kind", end.Kind.ToString()),
                    ("reason", end.Reason),
                    ("at", Ticks(end.At))).ConfigureAwait(false);
                if (updated == 1)
                {
                    await PublishAsync(connection, transaction, StoreChangeKind.Lease, leaseId, cancellationToken).ConfigureAwait(false);
                }

                return await FindLeaseAsync(connection, transaction, leaseId, cancellationToken).ConfigureAwait(false);
            },
            publishes: true,
            cancellationToken);
    }

    // ---- Single use ----------------------------------------------------------------------------------------

    public Task<bool> TryUseIdTokenAsync(string issuer, string tokenId, DateTimeOffset rememberUntil, CancellationToken cancellationToken) =>
        RunAsync(
            async connection => await ExecuteAsync(
                connection,
                null,
                $"INSERT INTO {IdTokens} (issuer, token_id, remember_until) VALUES (@issuer, @token_id, @until) ON CONFLICT (issuer, token_id) DO NOTHING",
                cancellationToken,
                ("issuer", issuer),
                ("token_id", tokenId),
                ("until", Ticks(rememberUntil))).ConfigureAwait(false) == 1,
            cancellationToken);

    public Task<bool> TryUseProofNonceAsync(string leaseId, string nonce, DateTimeOffset rememberUntil, CancellationToken cancellationToken) =>
        RunAsync(
            async connection => await ExecuteAsync(
                connection,
                null,
                $"INSERT INTO {ProofNonces} (lease_id, nonce, remember_until) VALUES (@lease_id, @nonce, @until) ON CONFLICT (lease_id, nonce) DO NOTHING",
                cancellationToken,
                ("lease_id", leaseId),
                ("nonce", nonce),
                ("until", Ticks(rememberUntil))).ConfigureAwait(false) == 1,
            hotPath: true,
            cancellationToken);

    // ---- Tunnel slots --------------------------------------------------------------------------------------

    /// <summary>
    /// The lease's counter goes up only while it is below the cap and the lease has not ended, and the tunnel is
    /// recorded in the same transaction; an engine that can say it in one statement overrides this.
    /// </summary>
    public virtual Task<bool> TryOpenTunnelAsync(TunnelRecord tunnel, int maxConnections, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(tunnel);
        return WriteAsync(
            async (connection, transaction) =>
            {
                var taken = await ExecuteAsync(
                    connection,
                    transaction,
                    $"UPDATE {Leases} SET open_tunnels = open_tunnels + 1 WHERE id = @lease_id AND end_kind IS NULL AND open_tunnels < @max",
                    cancellationToken,
                    ("lease_id", tunnel.LeaseId),
                    ("max", maxConnections)).ConfigureAwait(false);
                if (taken == 0)
                {
                    return false;
                }

                await ExecuteAsync(
                    connection,
                    transaction,
                    $"INSERT INTO {Tunnels} ({TunnelColumns}) VALUES (@id, @lease_id, @target, @instance_id, @opened_at)",
                    cancellationToken,
                    TunnelParameters(tunnel)).ConfigureAwait(false);
                return true;
            },
            publishes: false,
            hotPath: true,
            cancellationToken);
    }

    /// <summary>The tunnel's row goes, and its lease's counter down only if this call removed the row.</summary>
    public virtual Task CloseTunnelAsync(string tunnelId, CancellationToken cancellationToken) =>
        WriteAsync(
            async (connection, transaction) =>
            {
                var leaseId = await ScalarAsync<string>(
                    connection, transaction, $"DELETE FROM {Tunnels} WHERE id = @id RETURNING lease_id", cancellationToken, ("id", tunnelId)).ConfigureAwait(false);
                if (leaseId is not null)
                {
                    await GiveBackSlotAsync(connection, transaction, leaseId, cancellationToken).ConfigureAwait(false);
                }

                return true;
            },
            publishes: false,
            hotPath: true,
            cancellationToken);

    public Task<IReadOnlyList<TunnelRecord>> OpenTunnelsAsync(CancellationToken cancellationToken) =>
        RunAsync(
            connection => QueryAsync(connection, null, $"SELECT {TunnelColumns} FROM {Tunnels} ORDER BY opened_at, id", ReadTunnel, cancellationToken),
            cancellationToken);

    // ---- Standing blocks -----------------------------------------------------------------------------------

    public Task AddBlockAsync(BlockRecord block, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(block);
        return WriteAsync(
            async (connection, transaction) =>
            {
                var added = await ExecuteAsync(
                    connection,
                    transaction,
                    $"INSERT INTO {Blocks} ({BlockColumns}) VALUES (@id, @claims, @reason, @by, @created_at, @revoked_lease) ON CONFLICT (id) DO NOTHING",
                    cancellationToken,
                    ("id", block.Id),
                    ("claims", StoreJson.Write(block.Claims)),
                    ("reason", block.Reason),
                    ("by", block.By),
                    ("created_at", Ticks(block.CreatedAt)),
                    ("revoked_lease", block.RevokedLease)).ConfigureAwait(false);
                if (added == 0)
                {
                    // Thrown before the commit: the transaction is rolled back and nothing is published.
                    throw new InvalidOperationException($"block {block.Id} is already recorded");
                }

                await PublishAsync(connection, transaction, StoreChangeKind.Block, block.Id, cancellationToken).ConfigureAwait(false);
                return true;
            },
            publishes: true,
            cancellationToken);
    }

    public Task<BlockRecord?> RemoveBlockAsync(string blockId, CancellationToken cancellationToken) =>
        WriteAsync(
            async (connection, transaction) =>
            {
                var removed = await QueryAsync(
                    connection, transaction, $"DELETE FROM {Blocks} WHERE id = @id RETURNING {BlockColumns}", ReadBlock, cancellationToken, ("id", blockId)).ConfigureAwait(false);
                if (removed.Count == 0)
                {
                    return null;
                }

                await PublishAsync(connection, transaction, StoreChangeKind.Block, blockId, cancellationToken).ConfigureAwait(false);
                return removed[0];
            },
            publishes: true,
            cancellationToken);

    public Task<IReadOnlyList<BlockRecord>> BlocksAsync(CancellationToken cancellationToken) =>
        RunAsync(
            connection => QueryAsync(connection, null, $"SELECT {BlockColumns} FROM {Blocks} ORDER BY created_at, id", ReadBlock, cancellationToken),
            cancellationToken);

    // ---- Lease-signing keys --------------------------------------------------------------------------------

    public Task PublishSigningKeyAsync(SigningKeyRecord key, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        return RunAsync(
            connection => ExecuteAsync(
                connection,
                null,
                $"INSERT INTO {SigningKeys} (key_id, public_key, instance_id, published_at) VALUES (@key_id, @public_key, @instance_id, @published_at) "
                + "ON CONFLICT (key_id) DO NOTHING",
                cancellationToken,
                ("key_id", key.KeyId),
                ("public_key", key.PublicKey),
                ("instance_id", key.InstanceId),
                ("published_at", Ticks(key.PublishedAt))),
            cancellationToken);
    }

    public Task<SigningKeyRecord?> FindSigningKeyAsync(string keyId, CancellationToken cancellationToken) =>
        RunAsync(
            async connection => (await QueryAsync(
                connection,
                null,
                $"SELECT key_id, public_key, instance_id, published_at FROM {SigningKeys} WHERE key_id = @key_id",
                r => new SigningKeyRecord(r.GetString(0), r.GetFieldValue<byte[]>(1), r.GetString(2), FromTicks(r.GetInt64(3))),
                cancellationToken,
                ("key_id", keyId)).ConfigureAwait(false)) is [var key, ..] ? key : null,
            cancellationToken);

    // ---- Instances -----------------------------------------------------------------------------------------

    public Task HeartbeatAsync(InstanceRecord instance, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(instance);

        // A heartbeat never brings back an instance that was found lost or has gone: the state is set only on insert.
        return RunAsync(
            connection => ExecuteAsync(
                connection,
                null,
                $"INSERT INTO {Instances} ({InstanceColumns}) VALUES (@id, @address, @started_at, @heartbeat_at, @state) "
                + "ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, address = excluded.address",
                cancellationToken,
                ("id", instance.Id),
                ("address", instance.Address),
                ("started_at", Ticks(instance.StartedAt)),
                ("heartbeat_at", Ticks(instance.HeartbeatAt)),
                ("state", instance.State.ToString())),
            cancellationToken);
    }

    public Task SetInstanceStateAsync(string instanceId, InstanceState state, CancellationToken cancellationToken) =>
        WriteAsync(
            async (connection, transaction) =>
            {
                var updated = await ExecuteAsync(
                    connection, transaction, $"UPDATE {Instances} SET state = @state WHERE id = @id", cancellationToken, ("id", instanceId), ("state", state.ToString())).ConfigureAwait(false);
                if (updated == 1)
                {
                    await PublishAsync(connection, transaction, StoreChangeKind.Instance, instanceId, cancellationToken).ConfigureAwait(false);
                }

                return true;
            },
            publishes: true,
            cancellationToken);

    public Task<IReadOnlyList<InstanceRecord>> InstancesAsync(CancellationToken cancellationToken) =>
        RunAsync(
            connection => QueryAsync(connection, null, $"SELECT {InstanceColumns} FROM {Instances} ORDER BY heartbeat_at DESC, id", ReadInstance, cancellationToken),
            cancellationToken);

    public Task<IReadOnlyList<LostInstance>> ClaimLostInstancesAsync(DateTimeOffset heartbeatsBefore, CancellationToken cancellationToken) =>
        WriteAsync<IReadOnlyList<LostInstance>>(
            async (connection, transaction) =>
            {
                // The state changes from live or draining to lost in this one statement: when two instances claim at
                // once, the second's update finds the rows already lost (PostgreSQL re-reads a row it waited for;
                // sqlite runs one writer at a time), so each lost instance is claimed exactly once.
                var claimed = await QueryAsync(
                    connection,
                    transaction,
                    $"UPDATE {Instances} SET state = @lost WHERE state IN (@live, @draining) AND heartbeat_at < @before RETURNING {InstanceColumns}",
                    ReadInstance,
                    cancellationToken,
                    ("lost", nameof(InstanceState.Lost)),
                    ("live", nameof(InstanceState.Live)),
                    ("draining", nameof(InstanceState.Draining)),
                    ("before", Ticks(heartbeatsBefore))).ConfigureAwait(false);

                var lost = new List<LostInstance>();
                foreach (var instance in claimed.OrderBy(i => i.Id, StringComparer.Ordinal))
                {
                    var tunnels = await QueryAsync(
                        connection, transaction, $"DELETE FROM {Tunnels} WHERE instance_id = @id RETURNING {TunnelColumns}", ReadTunnel, cancellationToken, ("id", instance.Id)).ConfigureAwait(false);
                    foreach (var tunnel in tunnels)
                    {
                        await GiveBackSlotAsync(connection, transaction, tunnel.LeaseId, cancellationToken).ConfigureAwait(false);
                    }

                    await PublishAsync(connection, transaction, StoreChangeKind.Instance, instance.Id, cancellationToken).ConfigureAwait(false);
                    lost.Add(new LostInstance(instance, tunnels.OrderBy(t => t.OpenedAt).ThenBy(t => t.Id, StringComparer.Ordinal).ToList()));
                }

                return lost;
            },
            publishes: true,
            cancellationToken);

    // ---- Changes -------------------------------------------------------------------------------------------

    public Task<IReadOnlyList<StoreChange>> ChangesSinceAsync(long after, int limit, CancellationToken cancellationToken) =>
        RunAsync(
            connection => QueryAsync(
                connection,
                null,
                $"SELECT seq, kind, item_id FROM {Changes} WHERE seq > @after ORDER BY seq LIMIT @limit",
                r => new StoreChange(r.GetInt64(0), Enum.Parse<StoreChangeKind>(r.GetString(1)), r.GetString(2)),
                cancellationToken,
                ("after", after),
                ("limit", Math.Max(0, limit))),
            cancellationToken);

    public Task<long> LatestChangeAsync(CancellationToken cancellationToken) =>
        RunAsync(
            async connection => await ScalarAsync<long?>(connection, null, $"SELECT MAX(seq) FROM {Changes}", cancellationToken).ConfigureAwait(false) ?? 0,
            cancellationToken);

    public Task PruneAsync(DateTimeOffset now, DateTimeOffset changesBefore, CancellationToken cancellationToken) =>
        WriteAsync(
            async (connection, transaction) =>
            {
                var at = ("now", (object?)Ticks(now));
                var before = ("before", (object?)Ticks(changesBefore));

                // A lease's tunnels and nonces go with it. The newest change always stays, so LatestChangeAsync never
                // goes back to a number below one already handed out.
                await ExecuteAsync(connection, transaction, $"DELETE FROM {Tunnels} WHERE lease_id IN (SELECT id FROM {Leases} WHERE max_expires_at < @now)", cancellationToken, at).ConfigureAwait(false);
                await ExecuteAsync(connection, transaction, $"DELETE FROM {Leases} WHERE max_expires_at < @now", cancellationToken, at).ConfigureAwait(false);
                await ExecuteAsync(connection, transaction, $"DELETE FROM {IdTokens} WHERE remember_until < @now", cancellationToken, at).ConfigureAwait(false);
                await ExecuteAsync(connection, transaction, $"DELETE FROM {ProofNonces} WHERE remember_until < @now", cancellationToken, at).ConfigureAwait(false);
                await ExecuteAsync(connection, transaction, $"DELETE FROM {Changes} WHERE at < @before AND seq < (SELECT MAX(seq) FROM {Changes})", cancellationToken, before).ConfigureAwait(false);
                await ExecuteAsync(
                    connection,
                    transaction,
                    $"DELETE FROM {Instances} WHERE state IN (@gone, @lost) AND heartbeat_at < @before",
                    cancellationToken,
                    before,
                    ("gone", nameof(InstanceState.Gone)),
                    ("lost", nameof(InstanceState.Lost))).ConfigureAwait(false);
                return true;
            },
            publishes: false,
            cancellationToken);

    // ---- What each engine supplies -------------------------------------------------------------------------

    /// <summary>
    /// An open connection; throws <see cref="StoreUnavailableException"/> naming the cause. <paramref name="hotPath"/>:
    /// for a write made on every tunnel open or close.
    /// </summary>
    protected abstract Task<DbConnection> ConnectAsync(bool hotPath, CancellationToken cancellationToken);

    /// <summary>
    /// Begins a writing transaction. <paramref name="publishes"/>: it may append to the changes, which must then be
    /// numbered in commit order.
    /// </summary>
    protected abstract Task<DbTransaction> BeginWriteAsync(DbConnection connection, bool publishes, CancellationToken cancellationToken);

    /// <summary>
    /// Whether a call that failed with <paramref name="exception"/> certainly did not take effect and is worth one
    /// more try on a fresh connection (having made sure the next connection is fresh). None by default.
    /// </summary>
    protected virtual bool CanRetry(Exception exception) => false;

    /// <summary>Whether <paramref name="exception"/> means the store failed (rather than a bug of ours).</summary>
    protected abstract bool IsStoreFailure(Exception exception);

    /// <summary>The exception the caller sees for a store failure: the cause, never a password.</summary>
    protected abstract StoreUnavailableException Unavailable(Exception exception);

    /// <summary>Appends a change inside a writing transaction begun with <c>publishes</c>.</summary>
    protected virtual Task PublishAsync(DbConnection connection, DbTransaction transaction, StoreChangeKind kind, string id, CancellationToken cancellationToken) =>
        ExecuteAsync(
            connection,
            transaction,
            $"INSERT INTO {Changes} (kind, item_id, at) VALUES (@kind, @item_id, @at)",
            cancellationToken,
            ("kind", kind.ToString()),
            ("item_id", id),
            ("at", Ticks(_time.GetUtcNow())));

    // ---- Helpers -------------------------------------------------------------------------------------------

    protected static long Ticks(DateTimeOffset time) => time.UtcTicks;

    protected static DateTimeOffset FromTicks(long ticks) => new(ticks, TimeSpan.Zero);

    protected static (string, object?)[] TunnelParameters(TunnelRecord tunnel) =>
    [
        ("id", tunnel.Id),
        ("lease_id", tunnel.LeaseId),
        ("target", tunnel.Target),
        ("instance_id", tunnel.InstanceId),
        ("opened_at", Ticks(tunnel.OpenedAt)),
    ];

    /// <summary>Runs <paramref name="work"/> on a connection of its own; a store failure becomes <see cref="StoreUnavailableException"/>.</summary>
    protected Task<T> RunAsync<T>(Func<DbConnection, Task<T>> work, CancellationToken cancellationToken) => RunAsync(work, hotPath: false, cancellationToken);

    /// <summary>
    /// As <see cref="RunAsync{T}(Func{DbConnection, Task{T}}, CancellationToken)"/>; <paramref name="hotPath"/>: a write
    /// made for every tunnel (a proof's nonce, a slot), which an engine may make durable later than the others.
    /// </summary>
    protected async Task<T> RunAsync<T>(Func<DbConnection, Task<T>> work, bool hotPath, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var connection = await ConnectAsync(hotPath, cancellationToken).ConfigureAwait(false);
                await using (connection.ConfigureAwait(false))
                {
                    return await work(connection).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (attempt == 1 && !cancellationToken.IsCancellationRequested && CanRetry(ex))
            {
                // Once: the call did not run, and a fresh connection may well succeed.
            }
            catch (Exception ex) when (ex is not StoreUnavailableException && !cancellationToken.IsCancellationRequested && IsStoreFailure(ex))
            {
                throw Unavailable(ex);
            }
        }
    }

    protected Task RunAsync(Func<DbConnection, Task> work, CancellationToken cancellationToken) =>
        RunAsync(
            async connection =>
            {
                await work(connection).ConfigureAwait(false);
                return true;
            },
            cancellationToken);

    /// <summary>Runs <paramref name="work"/> in a writing transaction, committed when it returns; rolled back when it throws.</summary>
    protected Task<T> WriteAsync<T>(Func<DbConnection, DbTransaction, Task<T>> work, bool publishes, CancellationToken cancellationToken) =>
        WriteAsync(work, publishes, hotPath: false, cancellationToken);

    /// <summary>As the overload without <paramref name="hotPath"/>; see <see cref="RunAsync{T}(Func{DbConnection, Task{T}}, bool, CancellationToken)"/>.</summary>
    protected async Task<T> WriteAsync<T>(Func<DbConnection, DbTransaction, Task<T>> work, bool publishes, bool hotPath, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);
        var result = await RunAsync(
            async connection =>
            {
                var transaction = await BeginWriteAsync(connection, publishes, cancellationToken).ConfigureAwait(false);
                await using (transaction.ConfigureAwait(false))
                {
                    var result = await work(connection, transaction).ConfigureAwait(false);
                    await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                    return result;
                }
            },
            hotPath,
            cancellationToken).ConfigureAwait(false);
        if (publishes)
        {
            // A hint only (it may have published nothing); readers of other processes hear of it by notification or poll.
            RaiseChangesMayBeWaiting();
        }

        return result;
    }

    protected void RaiseChangesMayBeWaiting() => ChangesMayBeWaiting?.Invoke();

    protected static DbCommand Command(DbConnection connection, DbTransaction? transaction, string sql, params ReadOnlySpan<(string Name, object? Value)> parameters)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var command = connection.CreateCommand();
        command.Transaction = transaction;
#pragma warning disable CA2100 // Every statement is this class's own text; values go in as parameters.
        command.CommandText = sql;
#pragma warning restore CA2100
        foreach (var (name, value) in parameters)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = name;
            parameter.Value = value ?? DBNull.Value;
            command.Parameters.Add(parameter);
        }

        return command;
    }

    protected static async Task<int> ExecuteAsync(
        DbConnection connection, DbTransaction? transaction, string sql, CancellationToken cancellationToken, params (string Name, object? Value)[] parameters)
    {
        var command = Command(connection, transaction, sql, parameters);
        await using (command.ConfigureAwait(false))
        {
            return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    protected static async Task<T?> ScalarAsync<T>(
        DbConnection connection, DbTransaction? transaction, string sql, CancellationToken cancellationToken, params (string Name, object? Value)[] parameters)
    {
        var command = Command(connection, transaction, sql, parameters);
        await using (command.ConfigureAwait(false))
        {
            var value = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
            if (value is null or DBNull)
            {
                return default;
            }

            var type = Nullable.GetUnderlyingType(typeof(T)) ?? typeof(T);
            return (T)Convert.ChangeType(value, type, System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    protected static async Task<IReadOnlyList<T>> QueryAsync<T>(
        DbConnection connection,
        DbTransaction? transaction,
        string sql,
        Func<DbDataReader, T> read,
        CancellationToken cancellationToken,
        params (string Name, object? Value)[] parameters)
    {
        var command = Command(connection, transaction, sql, parameters);
        await using (command.ConfigureAwait(false))
        {
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                var rows = new List<T>();
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    rows.Add(read(reader));
                }

                return rows;
            }
        }
    }

    private async Task<LeaseRecord?> FindLeaseAsync(DbConnection connection, DbTransaction? transaction, string leaseId, CancellationToken cancellationToken) =>
        (await QueryAsync(connection, transaction, $"SELECT {LeaseColumns} FROM {Leases} WHERE id = @id", ReadLease, cancellationToken, ("id", leaseId)).ConfigureAwait(false))
        is [var lease, ..] ? lease : null;

    private Task<int> GiveBackSlotAsync(DbConnection connection, DbTransaction transaction, string leaseId, CancellationToken cancellationToken) =>
        ExecuteAsync(connection, transaction, $"UPDATE {Leases} SET open_tunnels = open_tunnels - 1 WHERE id = @id AND open_tunnels > 0", cancellationToken, ("id", leaseId));

    private static LeaseRecord ReadLease(DbDataReader row) => new(
        Id: row.GetString(0),
        Issuer: row.GetString(1),
        Subject: row.GetString(2),
        TokenId: row.GetString(3),
        TokenExpiresAt: FromTicks(row.GetInt64(4)),
        Claims: StoreJson.ReadDictionary(row.GetString(5)),
        NonStringClaims: StoreJson.ReadList(row.GetString(6)),
        Targets: StoreJson.ReadList(row.GetString(7)),
        GrantedAt: FromTicks(row.GetInt64(8)),
        ExpiresAt: FromTicks(row.GetInt64(9)),
        MaxExpiresAt: FromTicks(row.GetInt64(10)),
        MaxConnections: row.GetInt32(11),
        SessionKeyThumbprint: row.GetString(12),
        SessionPublicKey: row.GetFieldValue<byte[]>(13),
        GrantedBy: row.GetString(14),
        End: row.IsDBNull(15) ? null : new LeaseEndRecord(Enum.Parse<LeaseEndKind>(row.GetString(15)), row.GetString(16), FromTicks(row.GetInt64(17))));

    private static TunnelRecord ReadTunnel(DbDataReader row) =>
        new(row.GetString(0), row.GetString(1), row.GetString(2), row.GetString(3), FromTicks(row.GetInt64(4)));

    private static BlockRecord ReadBlock(DbDataReader row) => new(
        Id: row.GetString(0),
        Claims: StoreJson.ReadDictionary(row.GetString(1)),
        Reason: row.GetString(2),
        By: row.GetString(3),
        CreatedAt: FromTicks(row.GetInt64(4)),
        RevokedLease: row.IsDBNull(5) ? null : row.GetString(5));

    private static InstanceRecord ReadInstance(DbDataReader row) =>
        new(row.GetString(0), row.GetString(1), FromTicks(row.GetInt64(2)), FromTicks(row.GetInt64(3)), Enum.Parse<InstanceState>(row.GetString(4)));
}
