namespace GitHubActionsPort.Broker.Store;

/// <summary>
/// The sqlite store's tables, one migration per version (<c>PRAGMA user_version</c> holds the version the file is
/// at). A migration is applied in the same <c>BEGIN IMMEDIATE</c> transaction that moves the version, so two
/// processes opening one new file apply it once between them.
/// </summary>
internal static class SqliteSchema
{
    /// <summary>Migration N (from 1) is <c>Migrations[N - 1]</c>; never edit one that has shipped, add the next.</summary>
    public static readonly IReadOnlyList<string> Migrations =
    [
        """
        CREATE TABLE leases (
            id TEXT PRIMARY KEY,
            issuer TEXT NOT NULL,
            subject TEXT NOT NULL,
            token_id TEXT NOT NULL,
            token_expires_at INTEGER NOT NULL,
            claims TEXT NOT NULL,
            non_string_claims TEXT NOT NULL,
            targets TEXT NOT NULL,
            granted_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            max_expires_at INTEGER NOT NULL,
            max_connections INTEGER NOT NULL,
            session_key_thumbprint TEXT NOT NULL,
            session_public_key BLOB NOT NULL,
            granted_by TEXT NOT NULL,
            end_kind TEXT,
            end_reason TEXT,
            ended_at INTEGER,
            open_tunnels INTEGER NOT NULL DEFAULT 0);
        CREATE INDEX leases_live ON leases (expires_at) WHERE end_kind IS NULL;
        CREATE INDEX leases_max_expires_at ON leases (max_expires_at);
        CREATE TABLE id_tokens (
            issuer TEXT NOT NULL,
            token_id TEXT NOT NULL,
            remember_until INTEGER NOT NULL,
            PRIMARY KEY (issuer, token_id));
        CREATE TABLE proof_nonces (
            lease_id TEXT NOT NULL,
            nonce TEXT NOT NULL,
            remember_until INTEGER NOT NULL,
            PRIMARY KEY (lease_id, nonce));
        CREATE TABLE tunnels (
            id TEXT PRIMARY KEY,
            lease_id TEXT NOT NULL REFERENCES leases (id) ON DELETE CASCADE,
            target TEXT NOT NULL,
            instance_id TEXT NOT NULL,
            opened_at INTEGER NOT NULL);
        CREATE INDEX tunnels_lease ON tunnels (lease_id);
        CREATE INDEX tunnels_instance ON tunnels (instance_id);
        CREATE TABLE blocks (
            id TEXT PRIMARY KEY,
            claims TEXT NOT NULL,
            reason TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            revoked_lease TEXT);
        CREATE TABLE signing_keys (
            key_id TEXT PRIMARY KEY,
            public_key BLOB NOT NULL,
            instance_id TEXT NOT NULL,
            published_at INTEGER NOT NULL);
        CREATE TABLE instances (
            id TEXT PRIMARY KEY,
            address TEXT NOT NULL,
            started_at INTEGER NOT NULL,
            heartbeat_at INTEGER NOT NULL,
            state TEXT NOT NULL);
        CREATE TABLE changes (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,
            item_id TEXT NOT NULL,
            at INTEGER NOT NULL);
        """,
    ];
}
