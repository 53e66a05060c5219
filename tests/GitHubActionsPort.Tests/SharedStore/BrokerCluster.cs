using System.Net;
using GitHubActionsPort.Broker.DevIssuer;
using Npgsql;

namespace GitHubActionsPort.Tests.SharedStore;

/// <summary>
/// Several broker processes on one real PostgreSQL, behind two layer-4 balancers (the gRPC port and the raw lane) as
/// an operator runs them, with the dev issuer and an echo target. Each test gets a database of its own.
/// </summary>
internal sealed class BrokerCluster : IAsyncDisposable
{
    private readonly List<ClusterBroker> _brokers = [];
    private readonly List<string> _files = [];
    private readonly string _workDirectory = Directory.CreateTempSubdirectory("ghaport-cluster-").FullName;
    private int _started;

    private BrokerCluster(PostgresServer postgres, string database, DevIssuer issuer, TcpTestServer echo)
    {
        Postgres = postgres;
        Database = database;
        Issuer = issuer;
        Echo = echo;
        AdminTokenFile = Path.Combine(_workDirectory, "admin-token");
        File.WriteAllText(AdminTokenFile, Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)));
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(AdminTokenFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        Configuration = BrokerUnderTest.DefaultConfiguration(issuer.Issuer, new Dictionary<string, string> { ["echo"] = echo.Address });
        Configuration["Broker:Store:Kind"] = "postgres";
        Configuration["Broker:Store:ConnectionString"] = ConnectionString;
        // Quick to notice a lost instance, so a test waits seconds for it, not half a minute.
        Configuration["Broker:Store:HeartbeatInterval"] = "1s";
        Configuration["Broker:Store:MaxStaleness"] = "5s";
        Configuration["Broker:Store:InstanceTimeout"] = "7s";
        Configuration["Broker:Admin:TokenFile"] = AdminTokenFile;
        Configuration["Broker:Lanes:Raw:AdvertisedPort"] = Raw.EndPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    public PostgresServer Postgres { get; }

    public string Database { get; }

    public string ConnectionString => $"Host=127.0.0.1;Port={Postgres.Port};Username={PostgresServer.User};Database={Database}";

    public DevIssuer Issuer { get; }

    public TcpTestServer Echo { get; }

    public string AdminTokenFile { get; }

    /// <summary>Every broker's configuration; a test changes it before starting the brokers it concerns.</summary>
    public Dictionary<string, string?> Configuration { get; }

    /// <summary>The balancer in front of the brokers' gRPC ports: the URL agents are given.</summary>
    public TcpBalancer Grpc { get; } = new();

    /// <summary>The balancer in front of the brokers' raw lanes: the port every broker advertises.</summary>
    public TcpBalancer Raw { get; } = new();

    public Uri BrokerUrl => Grpc.Url();

    public IReadOnlyList<ClusterBroker> Brokers => _brokers;

    /// <summary>A cluster on <paramref name="postgres"/> with a new, empty database.</summary>
    public static async Task<BrokerCluster> CreateAsync(PostgresServer postgres)
    {
        ArgumentNullException.ThrowIfNull(postgres);
        var database = "cluster_" + Guid.NewGuid().ToString("N")[..12];
        // Unpooled: a pooled connection may be one a test's server stop ended.
        await using (var connection = new NpgsqlConnection($"Host=127.0.0.1;Port={postgres.Port};Username={PostgresServer.User};Database=postgres;Pooling=false"))
        {
            await connection.OpenAsync().DefaultTimeout().ConfigureAwait(false);
            await using var create = new NpgsqlCommand($"CREATE DATABASE {database}", connection);
            await create.ExecuteNonQueryAsync().DefaultTimeout().ConfigureAwait(false);
        }

        var issuer = await DevIssuer.StartAsync().DefaultTimeout().ConfigureAwait(false);
        return new BrokerCluster(postgres, database, issuer, TcpTestServer.Echo());
    }

    /// <summary>Starts a broker process and waits until it listens; the balancers do not send to it until <see cref="Route"/>.</summary>
    public async Task<ClusterBroker> StartBrokerAsync(IReadOnlyDictionary<string, string?>? extra = null)
    {
        var name = "broker" + Interlocked.Increment(ref _started);
        var configuration = new Dictionary<string, string?>(Configuration);
        // A signing key of its own: instances need not share one (each publishes its public half in the store).
        configuration.TryAdd("Broker:Leases:SigningKeyPath", Path.Combine(_workDirectory, name + "-lease-key.pem"));
        configuration.TryAdd("Broker:Lanes:Raw:Url", "http://127.0.0.1:0");
        var auditPath = Path.Combine(_workDirectory, name + "-audit.jsonl");
        configuration["Broker:Audit:Path"] = auditPath;
        foreach (var (key, value) in extra ?? new Dictionary<string, string?>())
        {
            configuration[key] = value;
        }

        var process = BrokerProcess.Start(["--urls", "http://127.0.0.1:0"], BrokerProcess.Environment(configuration));
        try
        {
            var address = await process.WaitListeningAsync().DefaultTimeout().ConfigureAwait(false);
            var raw = new Uri((await process.WaitForOutputAsync(l => l.StartsWith("raw-lane ", StringComparison.Ordinal)).DefaultTimeout().ConfigureAwait(false))["raw-lane ".Length..]);
            var admin = new Uri((await process.WaitForOutputAsync(l => l.StartsWith("admin ", StringComparison.Ordinal)).DefaultTimeout().ConfigureAwait(false))["admin ".Length..]);
            var broker = new ClusterBroker(name, process, address, new IPEndPoint(IPAddress.Loopback, raw.Port), admin, auditPath);
            lock (_brokers)
            {
                _brokers.Add(broker);
            }

            return broker;
        }
        catch
        {
            TestContext.Progress.WriteLine(process.Describe());
            await process.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Sends new connections on both balancers to <paramref name="brokers"/> only, in turn.</summary>
    public void Route(params ClusterBroker[] brokers)
    {
        Grpc.Route([.. brokers.Select(b => b.GrpcEndPoint)]);
        Raw.Route([.. brokers.Select(b => b.RawLane)]);
    }

    /// <summary>A file holding one fresh id-token: the agent can open exactly one session with it.</summary>
    public string SingleTokenFile()
    {
        var file = Path.Combine(_workDirectory, "id-token-" + Guid.NewGuid().ToString("N"));
        File.WriteAllText(file, Issuer.MintToken("ghaport"));
        _files.Add(file);
        return file;
    }

    /// <summary>Runs <c>ghaport-broker sessions ...</c> against <paramref name="broker"/>'s admin endpoint.</summary>
    public Task<(int ExitCode, string Output, string Error)> SessionsAsync(ClusterBroker broker, params string[] args)
    {
        ArgumentNullException.ThrowIfNull(broker);
        return AdminCalls.SessionsAsync(broker.Admin, AdminTokenFile, args);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var broker in _brokers)
        {
            if (!broker.Process.HasExited)
            {
                TestContext.Progress.WriteLine($"--- {broker.Name} ---");
                foreach (var line in broker.Process.Output.Lines.TakeLast(80))
                {
                    TestContext.Progress.WriteLine(line);
                }
            }

            await broker.DisposeAsync().ConfigureAwait(false);
        }

        await Grpc.DisposeAsync().ConfigureAwait(false);
        await Raw.DisposeAsync().ConfigureAwait(false);
        await Echo.DisposeAsync().ConfigureAwait(false);
        await Issuer.DisposeAsync().ConfigureAwait(false);
        try
        {
            Directory.Delete(_workDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A broker still closing a file: the temp folder is the system's to clean.
        }
    }
}
