using GitHubActionsPort.Broker.Hosting;

namespace GitHubActionsPort.Tests;

/// <summary>
/// <c>ghaport-broker store migrate</c>, run as operators run it: one line saying which store and at which schema
/// version, and a store that cannot be reached refused in one line with its cause and never its password.
/// </summary>
public sealed class StoreMigrateCommandTests
{
    private DirectoryInfo _folder = null!;

    [SetUp]
    public void MakeFolder() => _folder = Directory.CreateTempSubdirectory("ghaport-store-migrate-");

    [TearDown]
    public void DeleteFolder() => _folder.Delete(recursive: true);

    [Test]
    public async Task Sqlite_CreatesTheOwnerOnlyFile_AndSaysItsVersion()
    {
        var path = Path.Combine(_folder.FullName, "state", "broker-state.db");

        var (exitCode, broker) = await BrokerProcess.RunToExitAsync(["store", "migrate", "--config", ConfigFile(), $"--Broker:Store:Path={path}"]);

        Assert.That(exitCode, Is.Zero, broker.Describe());
        Assert.That(broker.Output.Lines, Is.EqualTo(new[] { $"store sqlite {path}: schema version 1" }));
        Assert.That(File.Exists(path), Is.True);
        if (!OperatingSystem.IsWindows())
        {
            Assert.That(File.GetUnixFileMode(path), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
        }
    }

    [Test]
    public async Task Memory_SaysThereIsNothingToMigrate()
    {
        var (exitCode, broker) = await BrokerProcess.RunToExitAsync(["store", "migrate", "--config", ConfigFile(), "--Broker:Store:Kind=memory"]);

        Assert.That(exitCode, Is.Zero, broker.Describe());
        Assert.That(broker.Output.Lines, Has.Some.Contains("nothing to migrate"));
    }

    [Test]
    public async Task UnreachablePostgres_IsOneLineWithTheCause_AndExit1_WithoutThePassword()
    {
        var port = SocketIo.ReleasedLoopbackPort();

        var (exitCode, broker) = await BrokerProcess.RunToExitAsync(
        [
            "store", "migrate", "--config", ConfigFile(), "--Broker:Store:Kind=postgres",
            $"--Broker:Store:ConnectionString=Host=127.0.0.1;Port={port};Username=broker;Password=hunter2-never-shown;Timeout=5",
        ]);

        Assert.That(exitCode, Is.EqualTo(BrokerCommand.ExitFailure), broker.Describe());
        var lines = broker.Error.Lines.Where(l => l.Length > 0).ToList();
        Assert.That(lines, Has.Count.EqualTo(1), broker.Describe());
        Assert.That(lines[0], Does.StartWith($"ghaport-broker: cannot open the state store: cannot reach PostgreSQL at 127.0.0.1:{port}: "));
        Assert.That(string.Join('\n', broker.Output.Lines.Concat(broker.Error.Lines)), Does.Not.Contain("hunter2"));
    }

    [Test]
    public async Task BadStoreSetting_IsAConfigurationError_NamingTheKey()
    {
        var (exitCode, broker) = await BrokerProcess.RunToExitAsync(["store", "migrate", "--config", ConfigFile(), "--Broker:Store:Kind=oracle"]);

        Assert.That(exitCode, Is.EqualTo(BrokerCommand.ExitConfiguration), broker.Describe());
        Assert.That(broker.Error.Lines, Has.Some.Contains("Broker:Store:Kind"));
    }

    /// <summary>A minimal broker configuration whose state lives in this test's folder.</summary>
    private string ConfigFile()
    {
        var path = Path.Combine(_folder.FullName, "broker.json");
        File.WriteAllText(path, ConfigFileBroker.ToJson(new Dictionary<string, string?>
        {
            ["Broker:Issuers:0:Issuer"] = "https://token.actions.githubusercontent.com",
            ["Broker:Targets:db"] = "db.internal:5432",
            ["Broker:Rules:0:Targets:0"] = "db",
            ["Broker:Rules:0:Claims:repository"] = "acme/app",
            ["Broker:Leases:SigningKeyPath"] = Path.Combine(_folder.FullName, "lease-signing-key.pem"),
            ["Broker:Audit:Path"] = Path.Combine(_folder.FullName, "audit.jsonl"),
        }));
        return path;
    }
}
