using System.Formats.Tar;
using System.Text.Json.Nodes;
using GitHubActionsPort.Broker.Admin;
using GitHubActionsPort.Broker.Audit;
using GitHubActionsPort.Broker.RawLane;
using GitHubActionsPort.Broker.Store;
using GitHubActionsPort.Broker.Telemetry;
using GitHubActionsPort.TestSupport.Images;
using Microsoft.Extensions.Configuration;

namespace GitHubActionsPort.Tests.Shipping;

/// <summary>
/// The broker's OCI image, built once per run the way <c>build.ps1 publish</c> builds it (the SDK's
/// <c>PublishContainer</c> to a tarball, self-contained linux) on the Debian stand-in for Microsoft's runtime-deps
/// image, served by a registry on loopback. The tarball is opened and its index, manifest and configuration read:
/// entrypoint, non-root user, exposed ports, labels, the configuration the image starts with (read by the broker's
/// own settings readers), the base layer exactly as the registry served it, and the broker binary in the app layer,
/// which is run.
/// </summary>
[NonParallelizable]
public sealed class BrokerImageTests
{
    /// <summary>Not the project's version: the test proves <c>-p:Version</c> (what CI passes from the tag) reaches the image.</summary>
    private const string Version = "9.8.7";

    private const string Repository = "acme/ghaport";

    private static readonly string[] Entrypoint = ["/app/ghaport-broker"];

    private static readonly string[] Command = ["run", "--config", "/app/container-defaults.json", "--config", "/etc/ghaport/broker.json"];

    private static readonly string[] Ports = ["8470/tcp", "8472/tcp", "9471/tcp"];

    private static readonly Lazy<Task<(BrokerImageBuild Build, OciArchive Archive)>> Image = new(BuildAsync, LazyThreadSafetyMode.ExecutionAndPublication);

    private BrokerImageBuild _build = null!;
    private OciArchive _archive = null!;
    private JsonNode _config = null!;

    [OneTimeSetUp]
    public async Task BuildOnce()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Ignore("the image's stand-in base layer is made from Debian packages: Linux only");
        }

        (_build, _archive) = await Image.Value;
        _config = _archive.Config["config"]!;
    }

    [Test]
    public void Runs_TheSelfContainedBroker_WithTheContainerConfiguration_AsUser1654()
    {
        Assert.That(Strings(_config["Entrypoint"]), Is.EqualTo(Entrypoint));
        Assert.That(Strings(_config["Cmd"]), Is.EqualTo(Command));
        Assert.That(_config["WorkingDir"]!.GetValue<string>(), Is.EqualTo("/app/"));
        var user = _config["User"]!.GetValue<string>();
        Assert.That(user, Is.EqualTo("1654"), "the chiseled images' app user");
        Assert.That(user, Is.Not.EqualTo("0").And.Not.EqualTo("root").And.Not.StartsWith("0:"));
        Assert.That(_config["Healthcheck"], Is.Null, "the SDK writes none: compose.yaml and the README give 'ghaport-broker health' to the runtime");
        Assert.That(_archive.Config["os"]!.GetValue<string>(), Is.EqualTo("linux"));
        Assert.That(_archive.Config["architecture"]!.GetValue<string>(), Is.EqualTo(OciPlatform.Architecture));
    }

    [Test]
    public void ExposesThePorts_ItsConfigurationListensOn_AndNoOther()
    {
        var defaults = ContainerDefaults();
        var grpc = new Uri(defaults["Kestrel:Endpoints:Grpc:Url"]!);
        var raw = LaneSettings.Read(defaults, tlsConfigured: true).RawUrl;
        var metrics = MetricsSettings.Read(defaults).Url;

        var exposed = _config["ExposedPorts"]!.AsObject().Select(p => p.Key).Order(StringComparer.Ordinal).ToList();

        Assert.That(exposed, Is.EqualTo(new[] { $"{grpc.Port}/tcp", $"{raw.Port}/tcp", $"{metrics.Port}/tcp" }.Order(StringComparer.Ordinal)));
        Assert.That(exposed, Is.EqualTo(Ports));
        // Every interface of the container: a loopback listener could not be reached through a published port.
        Assert.That(grpc.Host, Is.EqualTo("0.0.0.0"));
        Assert.That(grpc.Scheme, Is.EqualTo("https"), "TLS unless the operator's file says otherwise");
        Assert.That(raw, Is.EqualTo(new Uri("https://0.0.0.0:8472")), "the raw lane follows the endpoint's scheme");
        Assert.That(metrics, Is.EqualTo(new Uri("http://0.0.0.0:9471")));
        Assert.That(AdminSettings.Read(defaults).Url, Is.EqualTo(new Uri(AdminSettings.DefaultUrl)), "the admin endpoint stays on the container's loopback");
    }

    [Test]
    public void KeepsEveryStateFile_UnderVarLibGhaport()
    {
        var defaults = ContainerDefaults();

        Assert.That(defaults["Broker:Leases:SigningKeyPath"], Is.EqualTo("/var/lib/ghaport/lease-signing-key.pem"));
        Assert.That(StoreSettingsReader.Read(defaults).Path, Is.EqualTo("/var/lib/ghaport/broker-state.db"), "the default sqlite store, beside the key");
        Assert.That(AdminSettings.Read(defaults).TokenFile, Is.EqualTo("/var/lib/ghaport/admin-token"));
        Assert.That(AuditServiceCollectionExtensions.ReadOptions(defaults).Path, Is.EqualTo("/var/lib/ghaport/audit/audit.jsonl"));

        var env = Strings(_config["Env"]);
        Assert.That(env, Does.Contain("ASPNETCORE_HTTP_PORTS="), "the base image's 8080 cleared");
        Assert.That(env, Has.None.StartsWith("Broker__"), "settings come from files the operator can override, not from the environment, which would outrank them");
    }

    [Test]
    public void Labels_NameTheImage_ItsVersion_Source_License_AndBase()
    {
        var labels = _config["Labels"]!.AsObject().ToDictionary(p => p.Key, p => p.Value!.GetValue<string>());

        Assert.That(labels["org.opencontainers.image.title"], Is.EqualTo("ghaport-broker"));
        Assert.That(labels["org.opencontainers.image.description"], Does.StartWith("GitHub Actions Port broker"));
        Assert.That(labels["org.opencontainers.image.version"], Is.EqualTo(Version));
        Assert.That(labels["org.opencontainers.image.source"], Is.EqualTo($"https://github.com/{Repository}"));
        Assert.That(labels["org.opencontainers.image.licenses"], Is.EqualTo("Apache-2.0"));
        Assert.That(labels["org.opencontainers.image.base.digest"], Is.EqualTo(_build.BaseImage.ManifestDigest), "the manifest the registry served");
        var refName = _archive.Index!["manifests"]![0]!["annotations"]!["org.opencontainers.image.ref.name"]!.GetValue<string>();
        Assert.That(refName, Is.EqualTo(Version), "tagged with the version");
    }

    [Test]
    public void BaseLayers_AreTheOnesTheRegistryServed_AndEveryBlobMatchesItsDigest()
    {
        var baseLayers = _build.BaseImage.Layers.Select(l => l.Digest).ToList();

        Assert.That(_archive.Layers.Select(l => l.Digest).Take(baseLayers.Count), Is.EqualTo(baseLayers));
        Assert.That(_archive.Layers, Has.Count.EqualTo(baseLayers.Count + 1), "the base, then one layer of the app");
        // The SDK keeps the layers it pulled in a content store of its own (by digest), so a second build asks the
        // registry for the manifest and configuration only: those tie this image to the loopback registry.
        Assert.That(_build.BlobsPulled, Does.Contain(_build.BaseImage.ConfigDigest), "the base configuration came from the loopback registry");
        foreach (var layer in _archive.Layers)
        {
            Assert.That(OciDigest.Of(layer.Bytes), Is.EqualTo(layer.Digest));
        }

        var diffIds = Strings(_archive.Config["rootfs"]!["diff_ids"]);
        Assert.That(diffIds.Take(baseLayers.Count), Is.EqualTo(_build.BaseImage.Layers.Select(l => l.DiffId)));
        Assert.That(diffIds, Is.EqualTo(_archive.Layers.Select(l => OciDigest.Of(l.Tar()))));
        var configDigest = _archive.Manifest!["config"]!["digest"]!.GetValue<string>();
        Assert.That(OciDigest.Of(_archive.Blob(configDigest)), Is.EqualTo(configDigest));
    }

    [Test]
    public void AppLayer_HoldsTheBrokerAtTheEntrypoint_AndNothingThatDoesNotShip()
    {
        var entries = AppLayer();
        var names = entries.Select(e => e.Name.TrimEnd('/')).ToList();

        var broker = entries.Single(e => e.Name == "app/ghaport-broker");
        Assert.That(broker.Type, Is.EqualTo(TarEntryType.RegularFile));
        Assert.That(broker.Mode & UnixFileMode.OtherExecute, Is.EqualTo(UnixFileMode.OtherExecute), "runnable by user 1654");
        Assert.That(names, Does.Contain("app/container-defaults.json"));
        Assert.That(names, Does.Contain("app/libcoreclr.so"), "self-contained: the runtime is in the image");
        Assert.That(names, Has.None.EndsWith(".pdb"));
        Assert.That(names, Has.None.StartsWith("app/deploy"));
        Assert.That(names.Where(n => n != "app"), Has.All.StartsWith("app/"), "the app layer writes nothing outside /app");
    }

    [Test]
    public async Task BrokerBinaryFromTheImage_Runs()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"ghaport-image-app-{Guid.NewGuid():N}");
        try
        {
            foreach (var entry in AppLayer().Where(e => e.Type == TarEntryType.RegularFile))
            {
                var path = Path.Combine(dir, entry.Name);
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                await File.WriteAllBytesAsync(path, entry.Data!);
                if (OperatingSystem.IsLinux())
                {
                    File.SetUnixFileMode(path, entry.Mode);
                }
            }

            await using var broker = ChildProcess.StartProgram(Path.Combine(dir, "app", "ghaport-broker"), ["--version"], inherit: name => !name.StartsWith("DOTNET_", StringComparison.Ordinal));
            var exitCode = await broker.WaitForExitAsync();

            Assert.That(exitCode, Is.Zero, broker.Describe());
            Assert.That(broker.Output.Lines, Has.Exactly(1).StartsWith($"ghaport-broker {Version}"));
        }
        finally
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }

    private static async Task<(BrokerImageBuild, OciArchive)> BuildAsync()
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException();
        }

        var archive = Path.Combine(PublishedAgent.RepositoryRoot(), "artifacts", "test-publish", "ghaport-broker-image.tar.gz");
        var build = await BrokerImage.PublishAsync(
            archive,
            new Dictionary<string, string> { ["Version"] = Version },
            new Dictionary<string, string> { ["GITHUB_REPOSITORY"] = Repository, ["GITHUB_SERVER_URL"] = "https://github.com" },
            TestContext.Progress).ConfigureAwait(false);
        return (build, await OciArchive.ReadAsync(build.ArchivePath).ConfigureAwait(false));
    }

    private static List<string> Strings(JsonNode? array) => [.. array!.AsArray().Select(n => n!.GetValue<string>())];

    private IReadOnlyList<LayerEntry> AppLayer() => _archive.Layers[^1].Entries();

    /// <summary>The image's own /app/container-defaults.json, as the broker's configuration reads it.</summary>
    private IConfigurationRoot ContainerDefaults()
    {
        var file = AppLayer().Single(e => e.Name == "app/container-defaults.json");
        return new ConfigurationBuilder().AddJsonStream(new MemoryStream(file.Data!)).Build();
    }
}
