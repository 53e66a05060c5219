using System.Diagnostics;
using System.Net;
using GitHubActionsPort.Harness.Output;
using Npgsql;

namespace GitHubActionsPort.Harness.Demo;

/// <summary>Proves the tunnel the way a CI job would use it: an ordinary PostgreSQL client talking SQL through the agent's port.</summary>
internal static class PostgresProof
{
    private static readonly TimeSpan ProofTimeout = TimeSpan.FromSeconds(30);

    private static readonly (int Id, string Service, string Version, bool Healthy)[] Deployments =
    [
        (1, "api", "2.14.0", true),
        (2, "worker", "2.14.0", true),
        (3, "billing", "2.13.2", false),
    ];

    public static async Task RunAsync(IPEndPoint forward, PostgresServer server, Narrator narrator, CancellationToken stopping)
    {
        ArgumentNullException.ThrowIfNull(forward);
        ArgumentNullException.ThrowIfNull(server);
        ArgumentNullException.ThrowIfNull(narrator);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        timeout.CancelAfter(ProofTimeout);
        var cancellationToken = timeout.Token;

        var connectionString = new NpgsqlConnectionStringBuilder
        {
            Host = forward.Address.ToString(),
            Port = forward.Port,
            Username = PostgresServer.User,
            Database = "postgres",
            // A pooled connection would outlive the demo's agent; each open must be a real connection through it.
            Pooling = false,
            Timeout = 15,
            CommandTimeout = 15,
        }.ConnectionString;

        narrator.Step("client", $"Npgsql connecting to {forward} (the agent's port; PostgreSQL itself is on {server.Port})");
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);

        var version = await ScalarAsync<string>(connection, "select version()", cancellationToken);
        narrator.Detail($"select version()          -> {version}");
        var serverPort = await ScalarAsync<int>(connection, "select inet_server_port()", cancellationToken);
        narrator.Detail($"select inet_server_port() -> {serverPort}, the server's own port: the session runs agent -> broker -> PostgreSQL");

        await ExecuteAsync(connection, "create temp table deployments (id int primary key, service text not null, version text not null, healthy boolean not null)", cancellationToken);
        foreach (var (id, service, release, healthy) in Deployments)
        {
            await using var insert = new NpgsqlCommand("insert into deployments values ($1, $2, $3, $4)", connection)
            {
                Parameters = { new() { Value = id }, new() { Value = service }, new() { Value = release }, new() { Value = healthy } },
            };
            await insert.ExecuteNonQueryAsync(cancellationToken);
        }

        narrator.Detail($"create temp table deployments; {Deployments.Length} parameterised inserts");
        narrator.Detail("select * from deployments order by id:");
        await using (var select = new NpgsqlCommand("select id, service, version, healthy from deployments order by id", connection))
        await using (var reader = await select.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                narrator.Detail($"  {reader.GetInt32(0),2}  {reader.GetString(1),-8} {reader.GetString(2),-8} {(reader.GetBoolean(3) ? "healthy" : "failing")}");
            }
        }

        await ReadManyRowsAsync(connection, narrator, cancellationToken);
    }

    /// <summary>Something closer to a test suite's load: many rows streamed back through the tunnel.</summary>
    private static async Task ReadManyRowsAsync(NpgsqlConnection connection, Narrator narrator, CancellationToken cancellationToken)
    {
        const int rows = 100_000;
        var started = Stopwatch.GetTimestamp();
        long characters = 0;
        var count = 0;
        await using (var select = new NpgsqlCommand("select g, md5(g::text) from generate_series(1, $1) g", connection) { Parameters = { new() { Value = rows } } })
        await using (var reader = await select.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                count++;
                characters += reader.GetString(1).Length;
            }
        }

        var elapsed = Stopwatch.GetElapsedTime(started);
        if (count != rows)
        {
            throw new InvalidDataException($"expected {rows:N0} rows, read {count:N0}");
        }

        narrator.Detail($"select g, md5(g::text) from generate_series(1, {rows}) -> {count:N0} rows, {characters / 1e6:0.0} MB of text in {elapsed.TotalMilliseconds:0} ms");
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        var value = await command.ExecuteScalarAsync(cancellationToken);
        return value is T typed ? typed : throw new InvalidDataException($"'{sql}' returned {value ?? "null"}, not a {typeof(T).Name}");
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
