using System.Globalization;
using System.Reflection;
using System.Text.RegularExpressions;
using GitHubActionsPort.Broker.Hosting;
using GitHubActionsPort.Broker.RawLane;
using GitHubActionsPort.Broker.Store;
using GitHubActionsPort.Broker.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using YamlDotNet.Serialization;

namespace GitHubActionsPort.Tests.Shipping;

/// <summary>
/// <c>broker/deploy/compose.yaml</c> (it cannot run here: no container daemon): parsed, and held to the image and to
/// the broker's own configuration. Each broker runs this release's image, mounts the configuration where the image
/// reads it and its state where the image keeps it, checks itself with <c>ghaport-broker health</c>, and the
/// configuration it starts with (the image's defaults, the mounted file, the compose environment) builds a broker
/// through <see cref="BrokerHost.Build"/> on the PostgreSQL service, with no unknown key.
/// </summary>
public sealed class ComposeFileTests
{
    /// <summary>What the image's command reads (BrokerImageTests checks the image says so).</summary>
    private const string DefaultsInImage = "/app/container-defaults.json";
    private const string ConfigInImage = "/etc/ghaport/broker.json";
    private const string TlsInImage = "/etc/ghaport/tls";

    private static readonly string[] HealthCheck = ["CMD", "/app/ghaport-broker", "health", "--config", DefaultsInImage, "--config", ConfigInImage];

    private static readonly string Deploy = Path.Combine(PublishedAgent.RepositoryRoot(), "broker", "deploy");

    private Dictionary<object, object> _compose = null!;
    private Dictionary<object, object> _services = null!;
    private List<string> _brokers = null!;

    [OneTimeSetUp]
    public void Parse()
    {
        var text = File.ReadAllText(Path.Combine(Deploy, "compose.yaml"));
        _compose = new DeserializerBuilder().Build().Deserialize<Dictionary<object, object>>(text);
        _services = Map(_compose["services"]);
        _brokers = [.. _services.Where(s => Text(Map(s.Value), "image").Contains("/ghaport-broker:", StringComparison.Ordinal)).Select(s => (string)s.Key)];
    }

    [Test]
    public void TwoBrokers_RunThisReleasesImage()
    {
        var version = typeof(BrokerHost).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion.Split('+')[0];

        Assert.That(_brokers, Has.Count.GreaterThanOrEqualTo(2), "brokers sharing one store");
        foreach (var broker in _brokers)
        {
            Assert.That(Text(Service(broker), "image"), Does.Match(@"^ghcr\.io/\$\{GHAPORT_OWNER:\?[^}]+\}/ghaport-broker:" + Regex.Escape(version) + "$"), broker);
        }
    }

    [Test]
    public void EachBroker_MountsConfigurationAndTls_ReadOnly_AndStateOfItsOwn_WritableBy1654()
    {
        var defaults = Defaults();
        var stateDir = Path.GetDirectoryName(defaults["Broker:Leases:SigningKeyPath"])!.Replace('\\', '/');
        var stateVolumes = new List<string>();
        foreach (var broker in _brokers)
        {
            var volumes = Strings(Service(broker)["volumes"]);
            var config = volumes.Single(v => v.Split(':')[1] == ConfigInImage);
            Assert.That(config, Does.EndWith(":ro"), broker);
            Assert.That(File.Exists(Path.Combine(Deploy, config.Split(':')[0])), config);
            Assert.That(volumes.Single(v => v.Split(':')[1] == TlsInImage), Does.EndWith(":ro"), broker);
            var state = volumes.Single(v => v.Split(':')[1] == stateDir);
            stateVolumes.Add(state.Split(':')[0]);
        }

        Assert.That(stateVolumes, Is.Unique, "each broker its own signing key, admin credential and audit trail");
        Assert.That(Map(_compose["volumes"]).Keys.Cast<string>(), Is.SupersetOf(stateVolumes), "named volumes");

        // A fresh named volume belongs to root: a one-shot service hands each to the image's user.
        var owner = _services.Values.Select(Map).Single(s => s.TryGetValue("entrypoint", out var e) && Strings(e)[0] == "chown");
        var chown = Strings(owner["entrypoint"]);
        Assert.That(chown[1], Is.EqualTo("1654:1654"));
        var owned = Strings(owner["volumes"]).ToDictionary(v => v.Split(':')[0], v => v.Split(':')[1]);
        Assert.That(stateVolumes.Select(v => owned[v]), Is.EquivalentTo(chown.Skip(2)));
        var ownerName = _services.Single(s => ReferenceEquals(s.Value, owner)).Key;
        foreach (var broker in _brokers)
        {
            Assert.That(Text(Map(Map(Service(broker)["depends_on"])[ownerName]), "condition"), Is.EqualTo("service_completed_successfully"), broker);
        }
    }

    [Test]
    public void EachBroker_ChecksItsHealth_WithTheBrokersHealthCommand()
    {
        foreach (var broker in _brokers)
        {
            var check = Map(Service(broker)["healthcheck"]);
            var test = Strings(check["test"]);
            Assert.That(test, Is.EqualTo(HealthCheck), $"{broker}: the files the broker reads, so a moved metrics port is followed");
            Assert.That(Seconds(Text(check, "timeout")), Is.GreaterThan(HealthCommand.Timeout.TotalSeconds), "the command gives up first, with its reason");
            Assert.That(Text(check, "interval"), Is.Not.Empty);
            // The drain (30 s) and what follows it (25 s) fit in the stop grace period.
            Assert.That(Seconds(Text(Service(broker), "stop_grace_period")), Is.GreaterThanOrEqualTo(55), broker);
        }
    }

    [Test]
    public void PublishedPorts_AreTheImagesPorts_AndAMovedRawLaneIsAdvertised()
    {
        var defaults = Defaults();
        var grpc = new Uri(defaults["Kestrel:Endpoints:Grpc:Url"]!).Port;
        var raw = LaneSettings.Read(defaults, tlsConfigured: true).RawUrl.Port;
        foreach (var broker in _brokers)
        {
            var ports = Strings(Service(broker)["ports"]).ToDictionary(p => int.Parse(p.Split(':')[1], CultureInfo.InvariantCulture), p => int.Parse(p.Split(':')[0], CultureInfo.InvariantCulture));
            Assert.That(ports.Keys, Is.EquivalentTo(new[] { grpc, raw }), broker);
            var environment = Environment(broker);
            if (ports[raw] != raw)
            {
                Assert.That(environment["Broker__Lanes__Raw__AdvertisedPort"], Is.EqualTo(ports[raw].ToString(CultureInfo.InvariantCulture)), $"{broker}: agents must be told the published raw-lane port");
            }
        }
    }

    [Test]
    public void EachBroker_BuildsOnThePostgresService_FromTheImagesDefaults_TheMountedFile_AndItsEnvironment()
    {
        // The database: the postgres image as its own entrypoint runs it (the one-shot chown borrows the image too).
        var postgresName = _services.Single(s => Text(Map(s.Value), "image").StartsWith("postgres:", StringComparison.Ordinal) && !Map(s.Value).ContainsKey("entrypoint")).Key;
        var postgres = Map(_services[postgresName]);
        var postgresEnv = Map(postgres["environment"]).ToDictionary(p => (string)p.Key, p => (string)p.Value);
        Assert.That(postgres.ContainsKey("healthcheck"), "brokers wait for a healthy database");

        // The connection string the header tells the operator to write names the service and its database and user.
        var connection = $"Host={postgresName};Port=5432;Database={postgresEnv["POSTGRES_DB"]};Username={postgresEnv["POSTGRES_USER"]};Password=";
        Assert.That(File.ReadAllText(Path.Combine(Deploy, "compose.yaml")), Does.Contain(connection));
        Assert.That(postgresEnv["POSTGRES_PASSWORD_FILE"], Is.EqualTo("/run/secrets/" + Strings(postgres["secrets"]).Single()));

        var folder = Directory.CreateTempSubdirectory("ghaport-compose-");
        try
        {
            var (certificatePath, keyPath) = WriteCertificate(folder.FullName);
            var connectionFile = Path.Combine(folder.FullName, "store_connection");
            File.WriteAllText(connectionFile, connection + "secret");
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(connectionFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }

            foreach (var broker in _brokers)
            {
                Assert.That(Text(Map(Map(Service(broker)["depends_on"])[postgresName]), "condition"), Is.EqualTo("service_healthy"), broker);
                var environment = Environment(broker);
                Assert.That(environment.Keys, Has.All.StartWith("Broker__"), broker);
                var secret = Strings(Service(broker)["secrets"]).Single();
                Assert.That(environment["Broker__Store__ConnectionStringFile"], Is.EqualTo("/run/secrets/" + secret), broker);
                Assert.That(Text(Map(Map(_compose["secrets"])[secret]), "file"), Does.StartWith("./secrets/"));

                // The broker's own configuration pipeline: the image's files in its order, the compose environment
                // over them; only paths of this host stand in for the container's.
                var overrides = environment.ToDictionary(e => e.Key.Replace("__", ":", StringComparison.Ordinal), e => (string?)e.Value);
                overrides["Broker:Store:ConnectionStringFile"] = connectionFile;
                overrides["Broker:Tls:CertificatePath"] = certificatePath;
                overrides["Broker:Tls:KeyPath"] = keyPath;
                overrides["Broker:Leases:SigningKeyPath"] = Path.Combine(folder.FullName, broker, "lease-signing-key.pem");
                overrides["Broker:Audit:Path"] = Path.Combine(folder.FullName, broker, "audit.jsonl");
                using var app = BrokerHost.Build([], [Path.Combine(Deploy, "container-defaults.json"), Path.Combine(Deploy, "broker.container.json")], overrides);

                var store = app.Services.GetRequiredService<StoreSettings>();
                Assert.That(store.Kind, Is.EqualTo(StoreKind.Postgres), broker);
                var parsed = new NpgsqlConnectionStringBuilder(store.ConnectionString);
                Assert.That((parsed.Host, parsed.Database, parsed.Username), Is.EqualTo((postgresName, postgresEnv["POSTGRES_DB"], postgresEnv["POSTGRES_USER"])), broker);
                Assert.That(MetricsSettings.Read(app.Configuration).Url.Port, Is.EqualTo(9471), "where the health check looks");
            }
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    private static IConfigurationRoot Defaults() =>
        new ConfigurationBuilder().AddJsonFile(Path.Combine(Deploy, "container-defaults.json")).Build();

    private static (string Certificate, string Key) WriteCertificate(string folder)
    {
        using var ca = TestCertificates.CreateCa("compose CA");
        using var certificate = TestCertificates.IssueServerCertificate(ca);
        var (pem, key) = TestCertificates.ToPem(certificate);
        var certificatePath = Path.Combine(folder, "broker.crt");
        var keyPath = Path.Combine(folder, "broker.key");
        File.WriteAllText(certificatePath, pem);
        File.WriteAllText(keyPath, key);
        return (certificatePath, keyPath);
    }

    private static double Seconds(string text)
    {
        var match = Regex.Match(text, @"^(\d+)(s|m)$");
        Assert.That(match.Success, $"'{text}' is not Ns or Nm");
        return double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) * (match.Groups[2].Value == "m" ? 60 : 1);
    }

    private Dictionary<object, object> Service(string name) => Map(_services[name]);

    private Dictionary<string, string> Environment(string broker) =>
        Map(Service(broker)["environment"]).ToDictionary(p => (string)p.Key, p => (string)p.Value);

    private static Dictionary<object, object> Map(object node) => (Dictionary<object, object>)node;

    private static List<string> Strings(object node) => [.. ((List<object>)node).Cast<string>()];

    private static string Text(Dictionary<object, object> map, string key) => map.TryGetValue(key, out var value) ? (string)value : string.Empty;
}
