using System.Runtime.Versioning;
using GitHubActionsPort.Broker.Configuration;
using GitHubActionsPort.Broker.Hosting;
using GitHubActionsPort.Broker.Store;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace GitHubActionsPort.Tests;

/// <summary>
/// <c>Broker:Store:*</c>: the documented defaults, every key read through the broker's one duration parser, every bad
/// value and every key that does not fit the store refused naming its key, and a connection string never shown.
/// </summary>
public sealed class StoreSettingsTests
{
    private const string Secret = "pw-never-shown-42";

    private DirectoryInfo _folder = null!;

    [SetUp]
    public void MakeFolder() => _folder = Directory.CreateTempSubdirectory("ghaport-store-settings-");

    [TearDown]
    public void DeleteFolder() => _folder.Delete(recursive: true);

    [Test]
    public void Defaults_AreSqlite_BesideTheSigningKey_WithTheDocumentedTimes()
    {
        var settings = Read(("Broker:Leases:SigningKeyPath", Path.Combine(_folder.FullName, "keys", "lease-signing-key.pem")));

        Assert.That(settings.Kind, Is.EqualTo(StoreKind.Sqlite));
        Assert.That(settings.Path, Is.EqualTo(Path.Combine(_folder.FullName, "keys", "broker-state.db")));
        Assert.That(settings.ConnectionString, Is.Null);
        Assert.That(settings.Schema, Is.EqualTo("ghaport"));
        Assert.That(settings.MaxStaleness, Is.EqualTo(TimeSpan.FromSeconds(60)));
        Assert.That(settings.HeartbeatInterval, Is.EqualTo(TimeSpan.FromSeconds(5)));
        Assert.That(settings.InstanceTimeout, Is.EqualTo(TimeSpan.FromSeconds(75)));
        Assert.That(settings.PollInterval, Is.EqualTo(TimeSpan.FromSeconds(1)));
    }

    [Test]
    public void SqliteSettings_ReadBackAsWritten()
    {
        var settings = Read(
            ("Broker:Store:Kind", "SQLite"),
            ("Broker:Store:Path", Path.Combine(_folder.FullName, "state.db")),
            ("Broker:Store:MaxStaleness", "2m"),
            ("Broker:Store:HeartbeatInterval", "10s"),
            ("Broker:Store:InstanceTimeout", "00:03:00"),
            ("Broker:Store:PollInterval", "500ms"));

        Assert.That(settings.Kind, Is.EqualTo(StoreKind.Sqlite));
        Assert.That(settings.Path, Is.EqualTo(Path.Combine(_folder.FullName, "state.db")));
        Assert.That(settings.MaxStaleness, Is.EqualTo(TimeSpan.FromMinutes(2)));
        Assert.That(settings.HeartbeatInterval, Is.EqualTo(TimeSpan.FromSeconds(10)));
        Assert.That(settings.InstanceTimeout, Is.EqualTo(TimeSpan.FromMinutes(3)));
        Assert.That(settings.PollInterval, Is.EqualTo(TimeSpan.FromMilliseconds(500)));
    }

    [Test]
    public void PostgresSettings_ReadBackAsWritten_AndNeverShowTheConnectionString()
    {
        var connectionString = $"Host=db.internal;Port=5433;Database=ghaport;Username=broker;Password={Secret}";
        var settings = Read(("Broker:Store:Kind", "postgres"), ("Broker:Store:ConnectionString", connectionString), ("Broker:Store:Schema", "broker_state"));

        Assert.That(settings.Kind, Is.EqualTo(StoreKind.Postgres));
        Assert.That(settings.ConnectionString, Is.EqualTo(connectionString));
        Assert.That(settings.Schema, Is.EqualTo("broker_state"));
        Assert.That(settings.Path, Is.Null);
        Assert.That(settings.ToString(), Does.Not.Contain(Secret));
    }

    [Test]
    [Platform(Exclude = "Win", Reason = "Unix file modes")]
    [UnsupportedOSPlatform("windows")]
    public void ConnectionStringFile_OwnerOnly_IsRead()
    {
        var file = ConnectionStringFile(UnixFileMode.UserRead | UnixFileMode.UserWrite);

        var settings = Read(("Broker:Store:Kind", "postgres"), ("Broker:Store:ConnectionStringFile", file));

        Assert.That(settings.ConnectionString, Is.EqualTo($"Host=127.0.0.1;Username=broker;Password={Secret}"));
    }

    [Test]
    [Platform(Exclude = "Win", Reason = "Unix file modes")]
    [UnsupportedOSPlatform("windows")]
    public void ConnectionStringFile_ReadableByOthers_IsRefused_NamingTheKeyTheModeAndTheFix()
    {
        var file = ConnectionStringFile(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        var error = Assert.Throws<BrokerConfigurationException>(() => Read(("Broker:Store:Kind", "postgres"), ("Broker:Store:ConnectionStringFile", file)));

        Assert.That(error!.Errors, Has.Some.StartsWith("Broker:Store:ConnectionStringFile:").And.Contains("0644").And.Contains("chmod 600"));
        Assert.That(error.Message, Does.Not.Contain(Secret));
    }

    [Test]
    public void UnparsableConnectionString_IsRefused_WithoutShowingIt()
    {
        var error = Assert.Throws<BrokerConfigurationException>(() => Read(("Broker:Store:Kind", "postgres"), ("Broker:Store:ConnectionString", $"Host=db;Password={Secret};Nonsense Keyword=1")));

        Assert.That(error!.Errors, Has.Some.StartsWith("Broker:Store:ConnectionString:"));
        Assert.That(error.Message, Does.Not.Contain(Secret));
    }

    [TestCase("Kind", "mysql", "Kind", "is not a store")]
    [TestCase("Kind", "1", "Kind", "is not a store")]
    [TestCase("MaxStaleness", "60", "MaxStaleness", "has no unit")]
    [TestCase("HeartbeatInterval", "-5s", "HeartbeatInterval", "negative")]
    [TestCase("InstanceTimeout", "0s", "InstanceTimeout", "positive duration")]
    [TestCase("PollInterval", "soon", "PollInterval", "is not a duration")]
    [TestCase("InstanceTimeout", "10s", "InstanceTimeout", "twice Broker:Store:HeartbeatInterval")]
    [TestCase("InstanceTimeout", "62s", "InstanceTimeout", "more than Broker:Store:MaxStaleness plus Broker:Store:HeartbeatInterval")]
    [TestCase("MaxStaleness", "5s", "MaxStaleness", "Broker:Store:HeartbeatInterval")]
    [TestCase("PollInterval", "2m", "PollInterval", "Broker:Store:MaxStaleness")]
    [TestCase("Path", " ", "Path", "must name the sqlite file")]
    [TestCase("Schema", "ghaport", "Schema", "only for the postgres store")]
    [TestCase("ConnectionString", "Host=x", "ConnectionString", "only for the postgres store")]
    [TestCase("ConnectionStringFile", "/etc/x", "ConnectionStringFile", "only for the postgres store")]
    public void BadSetting_IsRefused_NamingTheKey(string key, string value, string named, string problem)
    {
        var error = Assert.Throws<BrokerConfigurationException>(() => Read(($"Broker:Store:{key}", value)));

        Assert.That(error!.Errors, Has.Some.StartsWith($"Broker:Store:{named}:").And.Contains(problem));
    }

    [TestCase("Path", "state.db", "only for the sqlite store")]
    [TestCase("Schema", "Ghaport", "not a plain schema name")]
    [TestCase("Schema", "a\"; drop table x; --", "not a plain schema name")]
    [TestCase("Schema", "1st", "not a plain schema name")]
    public void BadPostgresSetting_IsRefused_NamingTheKey(string key, string value, string problem)
    {
        var error = Assert.Throws<BrokerConfigurationException>(() => Read(
            ("Broker:Store:Kind", "postgres"), ("Broker:Store:ConnectionString", "Host=127.0.0.1"), ($"Broker:Store:{key}", value)));

        Assert.That(error!.Errors, Has.Some.StartsWith($"Broker:Store:{key}:").And.Contains(problem));
    }

    [Test]
    public void Postgres_WithoutAConnectionString_OrWithBoth_IsRefused()
    {
        var none = Assert.Throws<BrokerConfigurationException>(() => Read(("Broker:Store:Kind", "postgres")));
        var both = Assert.Throws<BrokerConfigurationException>(() => Read(
            ("Broker:Store:Kind", "postgres"), ("Broker:Store:ConnectionString", "Host=127.0.0.1"), ("Broker:Store:ConnectionStringFile", "/tmp/cs")));

        Assert.That(none!.Errors, Has.Some.StartsWith("Broker:Store:ConnectionString:").And.Contains("required"));
        Assert.That(both!.Errors, Has.Some.Contains("not both"));
    }

    [Test]
    public void EveryStoreKey_IsKnown_ToTheBroker()
    {
        var configuration = new Dictionary<string, string?>
        {
            ["Broker:Issuers:0:Issuer"] = "https://token.actions.githubusercontent.com",
            ["Broker:Targets:db"] = "db.internal:5432",
            ["Broker:Rules:0:Targets:0"] = "db",
            ["Broker:Rules:0:Claims:repository"] = "acme/app",
            ["Broker:Admin:Url"] = "http://127.0.0.1:0",
            ["Broker:Audit:Path"] = BrokerUnderTest.TempAuditPath(),
            ["Broker:Metrics:Url"] = "http://127.0.0.1:0",
            ["Broker:Store:Kind"] = "sqlite",
            ["Broker:Store:Path"] = Path.Combine(_folder.FullName, "state.db"),
            ["Broker:Store:MaxStaleness"] = "90s",
            ["Broker:Store:HeartbeatInterval"] = "3s",
            ["Broker:Store:InstanceTimeout"] = "2m",
            ["Broker:Store:PollInterval"] = "2s",
        };

        using var app = BrokerHost.Build(["--urls", "http://127.0.0.1:0"], overrides: configuration);
        var settings = app.Services.GetRequiredService<StoreSettings>();

        Assert.That(settings.MaxStaleness, Is.EqualTo(TimeSpan.FromSeconds(90)));
        Assert.That(settings.Path, Is.EqualTo(Path.Combine(_folder.FullName, "state.db")));
    }

    [Test]
    public async Task AStoreIsMadeForEachKind()
    {
        var loggers = Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance;
        await using var memory = BrokerStores.Create(new StoreSettings { Kind = StoreKind.Memory }, TimeProvider.System, loggers);
        await using var sqlite = BrokerStores.Create(new StoreSettings { Kind = StoreKind.Sqlite, Path = Path.Combine(_folder.FullName, "s.db") }, TimeProvider.System, loggers);
        await using var postgres = BrokerStores.Create(
            new StoreSettings { Kind = StoreKind.Postgres, ConnectionString = $"Host=127.0.0.1;Database=ci;Password={Secret}", Schema = "ghaport" }, TimeProvider.System, loggers);

        Assert.That(memory, Is.TypeOf<MemoryBrokerStore>());
        Assert.That(sqlite.Describe(), Is.EqualTo($"sqlite {Path.Combine(_folder.FullName, "s.db")}"));
        Assert.That(postgres.Describe(), Is.EqualTo("postgres 127.0.0.1:5432 database ci schema ghaport"));
    }

    [UnsupportedOSPlatform("windows")]
    private string ConnectionStringFile(UnixFileMode mode)
    {
        var path = Path.Combine(_folder.FullName, "store-connection");
        File.WriteAllText(path, $"Host=127.0.0.1;Username=broker;Password={Secret}\n");
        File.SetUnixFileMode(path, mode);
        return path;
    }

    private static StoreSettings Read(params (string Key, string Value)[] values) =>
        StoreSettingsReader.Read(new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value))).Build());
}
