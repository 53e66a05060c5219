using GitHubActionsPort.Broker.DevIssuer;
using GitHubActionsPort.Harness.Bench.Scenarios;
using GitHubActionsPort.Harness.Output;

namespace GitHubActionsPort.Harness.Bench.Routes;

/// <summary>
/// What every route leads to, started once and shared: the dev issuer the agents get their id-tokens from, the
/// sink, source and echo targets, the PostgreSQL for pgbench when asked for, and a private CA with the broker's
/// certificate for the TLS routes. Routes differ only in what lies between the client and these.
/// </summary>
internal sealed class BenchTargets : IAsyncDisposable
{
    public const string SinkName = "bench-sink";
    public const string SourceName = "bench-source";
    public const string EchoName = "bench-echo";
    public const string IdleName = "bench-idle";
    public const string PostgresName = "bench-pg";

    private readonly Teardown _teardown;
    private readonly IReadOnlyList<TcpTestServer> _servers;

    private BenchTargets(Teardown teardown, DevIssuer issuer, TcpTestServer sink, TcpTestServer source, TcpTestServer echo, PostgresServer? postgres, BrokerCertificate certificate)
    {
        _teardown = teardown;
        Issuer = issuer;
        Sink = sink;
        Source = source;
        Echo = echo;
        Postgres = postgres;
        Certificate = certificate;
        _servers = [sink, source, echo];
    }

    public DevIssuer Issuer { get; }

    public TcpTestServer Sink { get; }

    public TcpTestServer Source { get; }

    public TcpTestServer Echo { get; }

    /// <summary>Null unless pgbench was asked for and PostgreSQL is installed and started.</summary>
    public PostgresServer? Postgres { get; }

    /// <summary>Why PostgreSQL is not running though it was asked for and installed; null otherwise.</summary>
    public string? PostgresProblem { get; private init; }

    public BrokerCertificate Certificate { get; }

    /// <summary>The route with nothing in between.</summary>
    public BenchRoute Direct => new(RouteSpec.Direct, Sink.EndPoint, Source.EndPoint, Echo.EndPoint)
    {
        Postgres = Postgres is null ? null : new(System.Net.IPAddress.Loopback, Postgres.Port),
    };

    public static async Task<BenchTargets> StartAsync(bool postgres, Narrator narrator, CancellationToken stopping)
    {
        var teardown = new Teardown(narrator, narrate: false);
        try
        {
            var issuer = teardown.Add("issuer", await DevIssuer.StartAsync(cancellationToken: stopping).DefaultTimeout());
            var sink = teardown.Add("sink target", new TcpTestServer(BulkProtocol.SinkAsync));
            var source = teardown.Add("source target", new TcpTestServer(BulkProtocol.SourceAsync));
            var echo = teardown.Add("echo target", TcpTestServer.Echo());
            var certificate = teardown.Add("TLS files", await BrokerCertificate.CreateAsync());
            PostgresServer? database = null;
            string? postgresProblem = null;
            try
            {
                database = postgres ? await PostgresServer.StartAsync() : null;
            }
            catch (Exception ex) when (ex is InvalidOperationException or TimeoutException or System.ComponentModel.Win32Exception)
            {
                // pgbench is one scenario of many: the others need no database.
                postgresProblem = $"PostgreSQL did not start: {ex.Message}";
            }

            if (database is not null)
            {
                teardown.Add("PostgreSQL", database);
            }

            return new BenchTargets(teardown, issuer, sink, source, echo, database, certificate) { PostgresProblem = postgresProblem };
        }
        catch
        {
            await teardown.DisposeAsync();
            throw;
        }
    }

    /// <summary>The broker's <c>Broker:Targets</c>: the shared targets, and <paramref name="idle"/> (HOST:PORT), a route's own.</summary>
    public Dictionary<string, string> BrokerTargets(string idle)
    {
        ArgumentException.ThrowIfNullOrEmpty(idle);
        var targets = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [SinkName] = Sink.Address,
            [SourceName] = Source.Address,
            [EchoName] = Echo.Address,
            [IdleName] = idle,
        };
        if (Postgres is not null)
        {
            targets[PostgresName] = Postgres.Address;
        }

        return targets;
    }

    /// <summary>What the targets' handlers threw: a scenario that passed may still have hidden one.</summary>
    public IReadOnlyList<string> Problems() =>
        _servers.SelectMany(t => t.HandlerErrors).Select(e => $"target: {e.GetType().Name}: {e.Message}").ToList();

    public ValueTask DisposeAsync() => _teardown.DisposeAsync();
}
