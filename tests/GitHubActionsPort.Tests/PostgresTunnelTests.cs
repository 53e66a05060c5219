using System.Security.Cryptography;
using GitHubActionsPort.Broker.DevIssuer;
using Npgsql;
using NpgsqlTypes;

namespace GitHubActionsPort.Tests;

/// <summary>
/// A real PostgreSQL behind the broker, reached with a real driver through the agent's port: the protocol's
/// start-up, parameterised statements, large results both ways, many sessions at once, and a cancel request (which
/// PostgreSQL receives on a second connection) all work as if the database were local.
/// </summary>
public sealed class PostgresTunnelTests
{
    private PostgresServer? _postgres;
    private DevIssuer? _issuer;
    private BrokerUnderTest? _broker;
    private AgentUnderTest? _agent;
    private int _brokerErrorsBefore;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        // initdb and a first start take a few seconds on a slow runner; bounded all the same.
        _postgres = await PostgresServer.StartAsync().WithTimeout(TimeSpan.FromMinutes(2));
        if (_postgres is null)
        {
            Assert.Ignore("PostgreSQL is not installed: initdb, pg_ctl and postgres were found neither on PATH nor under /usr/lib/postgresql.");
        }

        _issuer = await DevIssuer.StartAsync().DefaultTimeout();
        _broker = await BrokerUnderTest.StartAsync(
            BrokerUnderTest.DefaultConfiguration(_issuer.Issuer, new Dictionary<string, string> { ["pg"] = _postgres.Address }), TestContext.Progress);
        _agent = await AgentUnderTest.StartAsync(_broker.Address, ["0:pg"], AgentUnderTest.GitHubEnvironment(_issuer), echo: TestContext.Progress);
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        if (_agent is not null)
        {
            await _agent.DisposeAsync();
        }

        if (_broker is not null)
        {
            await _broker.DisposeAsync();
        }

        if (_issuer is not null)
        {
            await _issuer.DisposeAsync();
        }

        if (_postgres is not null)
        {
            await _postgres.DisposeAsync();
        }
    }

    [SetUp]
    public void NoteBrokerErrors() => _brokerErrorsBefore = _broker!.Logs.Errors.Count();

    [TearDown]
    public void NoUnexpectedBrokerErrors()
    {
        var errors = _broker!.Logs.Errors.Skip(_brokerErrorsBefore).ToList();
        Assert.That(errors, Is.Empty, "The broker logged errors:" + Environment.NewLine + string.Join(Environment.NewLine, errors));
    }

    [Test]
    public async Task SelectVersion_ThroughTheTunnel_ReachesTheRealServer()
    {
        await using var connection = await OpenAsync();

        var version = (string)(await ScalarAsync(connection, "select version()"))!;
        var serverPort = (int)(await ScalarAsync(connection, "select inet_server_port()"))!;

        Assert.That(version, Does.StartWith("PostgreSQL "));
        Assert.That(serverPort, Is.EqualTo(_postgres!.Port));
        Assert.That(_agent!["pg"].Port, Is.Not.EqualTo(_postgres.Port), "the client must have gone through the agent's port, not the server's");
    }

    [Test]
    public async Task ThousandParameterisedInserts_ReadBack_WithMatchingSums()
    {
        await using var connection = await OpenAsync();
        await ExecuteAsync(connection, "create temp table items (id int primary key, amount bigint not null, label text not null)");
        var rows = Enumerable.Range(1, 1000).Select(i => (Id: i, Amount: (long)i * 7919 % 100_003, Label: $"item-{i}-{new string('z', i % 50)}")).ToList();

        await using (var transaction = await connection.BeginTransactionAsync().AsTask().DefaultTimeout())
        {
            await using var insert = new NpgsqlCommand("insert into items (id, amount, label) values ($1, $2, $3)", connection, transaction);
            insert.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Integer });
            insert.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Bigint });
            insert.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Text });
            await insert.PrepareAsync().DefaultTimeout();
            foreach (var row in rows)
            {
                insert.Parameters[0].Value = row.Id;
                insert.Parameters[1].Value = row.Amount;
                insert.Parameters[2].Value = row.Label;
                Assert.That(await insert.ExecuteNonQueryAsync().DefaultTimeout(), Is.EqualTo(1));
            }

            await transaction.CommitAsync().DefaultTimeout();
        }

        await using var sums = new NpgsqlCommand("select count(*), sum(id), sum(amount), sum(length(label)) from items", connection);
        await using (var reader = await sums.ExecuteReaderAsync().DefaultTimeout())
        {
            Assert.That(await reader.ReadAsync().DefaultTimeout(), Is.True);
            Assert.That(reader.GetInt64(0), Is.EqualTo(rows.Count));
            Assert.That(reader.GetInt64(1), Is.EqualTo(rows.Sum(r => (long)r.Id)));
            Assert.That(reader.GetDecimal(2), Is.EqualTo(rows.Sum(r => r.Amount)));
            Assert.That(reader.GetInt64(3), Is.EqualTo(rows.Sum(r => (long)r.Label.Length)));
        }

        var readBack = await ReadAllAsync(connection, "select id, amount, label from items order by id", r => (Id: r.GetInt32(0), Amount: r.GetInt64(1), Label: r.GetString(2)))
            .WithTimeout(TaskTimeouts.Default);
        Assert.That(readBack, Is.EqualTo(rows));
    }

    [Test]
    public async Task LargeResult_TenThousandRowsOfOneKilobyte_ArrivesWhole()
    {
        await using var connection = await OpenAsync();

        var rows = await ReadAllAsync(connection, "select i, repeat('x', 1000) from generate_series(1, 10000) as i", r => (N: r.GetInt32(0), Text: r.GetString(1)))
            .WithTimeout(TaskTimeouts.Default);

        Assert.That(rows, Has.Count.EqualTo(10_000));
        Assert.That(rows.Select(r => r.N), Is.EqualTo(Enumerable.Range(1, 10_000)));
        Assert.That(rows.All(r => r.Text.Length == 1000 && r.Text.All(c => c == 'x')), Is.True);
    }

    [Test]
    public async Task LargeParameter_EightMegabytes_ArrivesWhole()
    {
        await using var connection = await OpenAsync();
        var blob = RandomNumberGenerator.GetBytes(8 * 1024 * 1024);

        await using var command = new NpgsqlCommand("select encode(sha256($1), 'hex'), length($1)", connection) { Parameters = { new NpgsqlParameter { Value = blob, NpgsqlDbType = NpgsqlDbType.Bytea } } };
        await using var reader = await command.ExecuteReaderAsync().DefaultTimeout();
        Assert.That(await reader.ReadAsync().DefaultTimeout(), Is.True);

        Assert.That(reader.GetString(0), Is.EqualTo(Convert.ToHexStringLower(SHA256.HashData(blob))));
        Assert.That(reader.GetInt32(1), Is.EqualTo(blob.Length));
    }

    [Test]
    public async Task EightConnectionsInParallel_EachKeepsItsOwnSession()
    {
        const int count = 8;

        var results = await Task.WhenAll(Enumerable.Range(1, count).Select(async n =>
        {
            await using var connection = await OpenAsync();
            await ExecuteAsync(connection, $"set application_name = 'ghaport-test-{n}'");
            var pid = (int)(await ScalarAsync(connection, "select pg_backend_pid()"))!;
            var sum = (long)(await ScalarAsync(connection, $"select sum(i)::bigint from generate_series(1, {n * 100_000}) as i"))!;
            var name = (string)(await ScalarAsync(connection, "select current_setting('application_name')"))!;
            return (N: n, Pid: pid, Sum: sum, Name: name);
        })).WithTimeout(TaskTimeouts.Default);

        Assert.That(results.Select(r => r.Pid).Distinct().Count(), Is.EqualTo(count), "each connection must be its own server session");
        foreach (var (n, _, sum, name) in results)
        {
            var top = (long)n * 100_000;
            Assert.That(sum, Is.EqualTo(top * (top + 1) / 2));
            Assert.That(name, Is.EqualTo($"ghaport-test-{n}"), "a session's settings must not leak into another's");
        }
    }

    [Test]
    public async Task CancelledQuery_IsCancelledByTheServer_AndTheConnectionStaysUsable()
    {
        await using var connection = await OpenAsync();
        await using var watcher = await OpenAsync();
        var marker = "ghaport-cancel-" + Guid.NewGuid().ToString("N");
        using var cancel = new CancellationTokenSource();
        await using var sleep = new NpgsqlCommand($"select pg_sleep(60) /* {marker} */", connection);

        var running = sleep.ExecuteScalarAsync(cancel.Token);
        // Cancel only once the server is running it, so the cancel request (a second connection) must cross the tunnel.
        await WaitUntilActiveAsync(watcher, marker).WithTimeout(TaskTimeouts.Default);
        await cancel.CancelAsync();

        var error = Assert.CatchAsync<OperationCanceledException>(() => running.WithTimeout(TaskTimeouts.Default));

        Assert.That(error!.InnerException, Is.TypeOf<PostgresException>().With.Property(nameof(PostgresException.SqlState)).EqualTo(PostgresErrorCodes.QueryCanceled));
        Assert.That(await ScalarAsync(connection, "select 42"), Is.EqualTo(42));
    }

    private async Task<NpgsqlConnection> OpenAsync()
    {
        var endPoint = _agent!["pg"];
        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = endPoint.Address.ToString(),
            Port = endPoint.Port,
            Username = PostgresServer.User,
            Database = "postgres",
            Pooling = false,
            Timeout = 15,
            CommandTimeout = 30,
            SslMode = SslMode.Disable,
            GssEncryptionMode = GssEncryptionMode.Disable,
        };
        var connection = new NpgsqlConnection(builder.ConnectionString);
        try
        {
            await connection.OpenAsync().DefaultTimeout();
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    private static async Task<object?> ScalarAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync().DefaultTimeout();
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync().DefaultTimeout();
    }

    private static async Task<List<T>> ReadAllAsync<T>(NpgsqlConnection connection, string sql, Func<NpgsqlDataReader, T> read)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<T>();
        while (await reader.ReadAsync())
        {
            rows.Add(read(reader));
        }

        return rows;
    }

    private static async Task WaitUntilActiveAsync(NpgsqlConnection watcher, string marker)
    {
        await using var probe = new NpgsqlCommand("select count(*) from pg_stat_activity where state = 'active' and query like '%' || $1 || '%' and pid <> pg_backend_pid()", watcher)
        {
            Parameters = { new NpgsqlParameter { Value = marker } },
        };
        while ((long)(await probe.ExecuteScalarAsync())! == 0)
        {
            // Each round trip is the wait: the watcher asks the server again, with no sleep between.
        }
    }
}
