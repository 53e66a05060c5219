using Npgsql;

namespace GitHubActionsPort.Broker.Store;

/// <summary>
/// The PostgreSQL store's tables in the configured schema, one migration per version, recorded in
/// <c>schema_version</c>. Applied under a session advisory lock, so brokers starting together on an empty
/// database take turns: the first creates everything, the others find it done.
/// </summary>
internal static class PostgresSchema
{
    /// <summary>Migration N (from 1) is <c>Migrations[N - 1]</c>, with <c>{s}</c> for the quoted schema; never edit one that has shipped.</summary>
    private static readonly IReadOnlyList<string> Migrations =
    [
        """
        CREATE TABLE {s}.leases (
            id text PRIMARY KEY,
            issuer text NOT NULL,
            subject text NOT NULL,
            token_id text NOT NULL,
            token_expires_at bigint NOT NULL,
            claims text NOT NULL,
            non_string_claims text NOT NULL,
            targets text NOT NULL,
            granted_at bigint NOT NULL,
            expires_at bigint NOT NULL,
            max_expires_at bigint NOT NULL,
            max_connections integer NOT NULL,
            session_key_thumbprint text NOT NULL,
            session_public_key bytea NOT NULL,
            granted_by text NOT NULL,
            end_kind text,
            end_reason text,
            ended_at bigint,
            open_tunnels integer NOT NULL DEFAULT 0);
        CREATE INDEX leases_live ON {s}.leases (expires_at) WHERE end_kind IS NULL;
        CREATE INDEX leases_max_expires_at ON {s}.leases (max_expires_at);
        CREATE TABLE {s}.id_tokens (
            issuer text NOT NULL,
            token_id text NOT NULL,
            remember_until bigint NOT NULL,
            PRIMARY KEY (issuer, token_id));
        CREATE TABLE {s}.proof_nonces (
            lease_id text NOT NULL,
            nonce text NOT NULL,
            remember_until bigint NOT NULL,
            PRIMARY KEY (lease_id, nonce));
        CREATE TABLE {s}.tunnels (
            id text PRIMARY KEY,
            lease_id text NOT NULL REFERENCES {s}.leases (id) ON DELETE CASCADE,
            target text NOT NULL,
            instance_id text NOT NULL,
            opened_at bigint NOT NULL);
        CREATE INDEX tunnels_lease ON {s}.tunnels (lease_id);
        CREATE INDEX tunnels_instance ON {s}.tunnels (instance_id);
        CREATE TABLE {s}.blocks (
            id text PRIMARY KEY,
            claims text NOT NULL,
            reason text NOT NULL,
            created_by text NOT NULL,
            created_at bigint NOT NULL,
            revoked_lease text);
        CREATE TABLE {s}.signing_keys (
            key_id text PRIMARY KEY,
            public_key bytea NOT NULL,
            instance_id text NOT NULL,
            published_at bigint NOT NULL);
        CREATE TABLE {s}.instances (
            id text PRIMARY KEY,
            address text NOT NULL,
            started_at bigint NOT NULL,
            heartbeat_at bigint NOT NULL,
            state text NOT NULL);
        CREATE TABLE {s}.changes (
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            kind text NOT NULL,
            item_id text NOT NULL,
            at bigint NOT NULL);
        """,
    ];

    /// <summary>The version this broker brings the schema to.</summary>
    public static int Latest => Migrations.Count;

    /// <summary>
    /// Creates the schema and applies every migration it lacks, each in a transaction of its own with its
    /// <c>schema_version</c> row; returns the version. The caller holds the migration lock.
    /// </summary>
    public static async Task<int> MigrateAsync(NpgsqlConnection connection, string quotedSchema, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);

        // Looked up first: CREATE ... IF NOT EXISTS still asks for the CREATE privilege, which a broker's role need not
        // have once an operator (or store migrate) has made the schema.
        bool exists;
        await using (var lookup = new NpgsqlCommand($"SELECT to_regclass('{quotedSchema.Replace("'", "''", StringComparison.Ordinal)}.schema_version') IS NOT NULL", connection))
        {
            exists = (bool)(await lookup.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
        }

        if (!exists)
        {
            await ExecuteAsync(
                connection,
                null,
                $"CREATE SCHEMA IF NOT EXISTS {quotedSchema}; "
                + $"CREATE TABLE IF NOT EXISTS {quotedSchema}.schema_version (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
                cancellationToken).ConfigureAwait(false);
        }

        int version;
        await using (var command = new NpgsqlCommand($"SELECT COALESCE(MAX(version), 0) FROM {quotedSchema}.schema_version", connection))
        {
            version = Convert.ToInt32(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
        }

        if (version > Latest)
        {
            throw new StoreUnavailableException(
                $"the PostgreSQL schema {quotedSchema} is at version {version}, newer than this broker knows ({Latest}): run the newer broker");
        }

        for (var next = version + 1; next <= Latest; next++)
        {
            var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await using (transaction.ConfigureAwait(false))
            {
                await ExecuteAsync(connection, transaction, Migrations[next - 1].Replace("{s}", quotedSchema, StringComparison.Ordinal), cancellationToken).ConfigureAwait(false);
                await using (var record = new NpgsqlCommand($"INSERT INTO {quotedSchema}.schema_version (version) VALUES (@version)", connection, transaction))
                {
                    record.Parameters.AddWithValue("version", next);
                    await record.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                }

                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        return Latest;
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string sql, CancellationToken cancellationToken)
    {
#pragma warning disable CA2100 // The schema is a checked plain identifier, quoted; everything else is this class's own text.
        await using var command = new NpgsqlCommand(sql, connection, transaction);
#pragma warning restore CA2100
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}
