using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Runtime.Versioning;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace GitHubActionsPort.TestSupport.Images;

/// <summary>
/// A stand-in for <c>mcr.microsoft.com/dotnet/runtime-deps:*-chiseled</c>, which this machine cannot reach: the
/// same kind of content (the native libraries a self-contained .NET app needs, CA certificates, time zones, and an
/// <c>app</c> user with uid 1654, no shell, no package manager) made from this host's Debian packages as one OCI
/// layer. The packages come from <c>apt-get download</c> (apt's package lists must be there: <c>apt-get update</c>
/// once) and are unpacked with <c>dpkg-deb -x</c>; no maintainer script runs, so what a script would make (the CA
/// bundle, OpenSSL's default paths) is written here. The layer is made once per package set and kept under the
/// cache folder, byte for byte the same each time (names sorted, times and owners fixed).
/// </summary>
[SupportedOSPlatform("linux")]
public static class DebianBaseImage
{
    /// <summary>What runtime-deps chiseled holds, by Debian package name.</summary>
    public static readonly IReadOnlyList<string> Packages = ["libc6", "libgcc-s1", "libstdc++6", "libssl3", "zlib1g", "ca-certificates", "tzdata"];

    /// <summary>The user the Microsoft images run as (<c>APP_UID</c>).</summary>
    public const int AppUid = 1654;

    public const string Repository = "ghaport-test/runtime-deps";

    public const string Tag = "bookworm";

    /// <summary>Bumped when the layer's recipe changes, so a cached layer of an older recipe is not reused.</summary>
    private const string Recipe = "1";

    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(3);

    /// <summary>Folders of the packages nothing at run time reads (docs, manuals, translations of tool messages).</summary>
    private static readonly string[] Dropped = ["usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/lintian", "usr/share/locale", "usr/share/bug"];

    /// <summary>The image for this host's architecture, built on first use into <paramref name="cacheRoot"/>.</summary>
    public static async Task<OciImage> BuildAsync(string cacheRoot, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(cacheRoot);
        var debs = Path.Combine(cacheRoot, "debs");
        Directory.CreateDirectory(debs);
        foreach (var package in Packages.Where(p => Deb(debs, p) is null))
        {
            try
            {
                await RunAsync("apt-get", ["download", package], debs, cancellationToken).ConfigureAwait(false);
            }
            catch (InvalidOperationException) when (!package.EndsWith("t64", StringComparison.Ordinal))
            {
                // Ubuntu 24.04 renamed the libraries whose ABI changed with 64-bit time_t (libssl3 is libssl3t64).
                await RunAsync("apt-get", ["download", package + "t64"], debs, cancellationToken).ConfigureAwait(false);
            }
        }

        var files = Packages.Select(p => Deb(debs, p)!).ToList();
        var key = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join('\n', files.Select(Path.GetFileName).Prepend(Recipe)))))[..16];
        var dir = Path.Combine(cacheRoot, key);
        var layerPath = Path.Combine(dir, "layer.tar.gz");
        var configPath = Path.Combine(dir, "config.json");
        var manifestPath = Path.Combine(dir, "manifest.json");
        if (!File.Exists(manifestPath))
        {
            var staging = dir + ".staging";
            if (Directory.Exists(staging))
            {
                Directory.Delete(staging, recursive: true);
            }

            Directory.CreateDirectory(staging);
            var root = Path.Combine(staging, "rootfs");
            foreach (var deb in files)
            {
                await RunAsync("dpkg-deb", ["-x", deb, root], staging, cancellationToken).ConfigureAwait(false);
            }

            Complete(root);
            var tar = Path.Combine(staging, "layer.tar");
            WriteLayer(root, tar);
            var diffId = await OciDigest.OfFileAsync(tar, cancellationToken).ConfigureAwait(false);
            var gz = Path.Combine(staging, "layer.tar.gz");
            await using (var input = File.OpenRead(tar))
            await using (var output = File.Create(gz))
            await using (var gzip = new GZipStream(output, CompressionLevel.Optimal))
            {
                await input.CopyToAsync(gzip, cancellationToken).ConfigureAwait(false);
            }

            File.Delete(tar);
            Directory.Delete(root, recursive: true);
            var layer = new OciLayer(await OciDigest.OfFileAsync(gz, cancellationToken).ConfigureAwait(false), diffId, gz, new FileInfo(gz).Length);
            var config = Config(layer, files);
            await File.WriteAllBytesAsync(Path.Combine(staging, "config.json"), config, cancellationToken).ConfigureAwait(false);
            var manifest = Manifest(OciDigest.Of(config), config.Length, layer);
            await File.WriteAllBytesAsync(Path.Combine(staging, "manifest.json"), manifest, cancellationToken).ConfigureAwait(false);
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }

            Directory.Move(staging, dir);
        }

        var configBytes = await File.ReadAllBytesAsync(configPath, cancellationToken).ConfigureAwait(false);
        var manifestBytes = await File.ReadAllBytesAsync(manifestPath, cancellationToken).ConfigureAwait(false);
        var diff = JsonNode.Parse(configBytes)!["rootfs"]!["diff_ids"]![0]!.GetValue<string>();
        var layerFile = new OciLayer(await OciDigest.OfFileAsync(layerPath, cancellationToken).ConfigureAwait(false), diff, layerPath, new FileInfo(layerPath).Length);
        return new OciImage(Repository, Tag, OciDigest.Of(manifestBytes), manifestBytes, OciDigest.Of(configBytes), configBytes, [layerFile]);
    }

    /// <summary>The newest downloaded .deb of <paramref name="package"/> (or of its <c>t64</c> rename); null when none is.</summary>
    private static string? Deb(string folder, string package) =>
        Directory.EnumerateFiles(folder, $"{package}_*.deb").Concat(Directory.EnumerateFiles(folder, $"{package}t64_*.deb"))
            .Order(StringComparer.Ordinal).LastOrDefault();

    /// <summary>What the packages' maintainer scripts and the chiseled images add: users, /tmp, the CA bundle.</summary>
    private static void Complete(string root)
    {
        foreach (var dropped in Dropped)
        {
            var path = Path.Combine(root, dropped);
            if (Directory.Exists(path))
            {
                Directory.Delete(path, recursive: true);
            }
        }

        var etc = Directory.CreateDirectory(Path.Combine(root, "etc")).FullName;
        File.WriteAllText(Path.Combine(etc, "passwd"), $"root:x:0:0:root:/root:/noshell\napp:x:{AppUid}:{AppUid}::/home/app:/noshell\n");
        File.WriteAllText(Path.Combine(etc, "group"), $"root:x:0:\napp:x:{AppUid}:\n");
        var tmp = Directory.CreateDirectory(Path.Combine(root, "tmp"));
        File.SetUnixFileMode(tmp.FullName, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
            | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute | UnixFileMode.StickyBit);
        Directory.CreateDirectory(Path.Combine(root, "home", "app"));

        // update-ca-certificates (ca-certificates' postinst) would write this bundle; OpenSSL finds it through the
        // paths the openssl package would link (its default cert file and folder).
        var certs = Directory.CreateDirectory(Path.Combine(etc, "ssl", "certs")).FullName;
        var bundle = new StringBuilder();
        foreach (var crt in Directory.EnumerateFiles(Path.Combine(root, "usr", "share", "ca-certificates"), "*.crt", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            bundle.Append(File.ReadAllText(crt).TrimEnd()).Append('\n');
        }

        File.WriteAllText(Path.Combine(certs, "ca-certificates.crt"), bundle.ToString());
        var ssl = Directory.CreateDirectory(Path.Combine(root, "usr", "lib", "ssl")).FullName;
        File.CreateSymbolicLink(Path.Combine(ssl, "certs"), "/etc/ssl/certs");
        File.CreateSymbolicLink(Path.Combine(ssl, "cert.pem"), "/etc/ssl/certs/ca-certificates.crt");
    }

    /// <summary>The tree as a tar: sorted names, owner root except /home/app, time zero, modes as unpacked.</summary>
    private static void WriteLayer(string root, string tarPath)
    {
        using var file = File.Create(tarPath);
        using var writer = new TarWriter(file, TarEntryFormat.Gnu, leaveOpen: false);
        foreach (var path in Walk(root))
        {
            var name = Path.GetRelativePath(root, path).Replace('\\', '/');
            var info = new FileInfo(path);
            GnuTarEntry entry;
            if (info.LinkTarget is { } target)
            {
                entry = new GnuTarEntry(TarEntryType.SymbolicLink, name) { LinkName = target };
            }
            else if (Directory.Exists(path))
            {
                entry = new GnuTarEntry(TarEntryType.Directory, name + "/");
            }
            else
            {
                entry = new GnuTarEntry(TarEntryType.RegularFile, name) { DataStream = File.OpenRead(path) };
            }

            entry.Mode = info.LinkTarget is null ? File.GetUnixFileMode(path) : (UnixFileMode)0x1FF;
            var owner = name is "home/app" ? AppUid : 0;
            entry.Uid = owner;
            entry.Gid = owner;
            entry.UserName = owner == 0 ? "root" : "app";
            entry.GroupName = entry.UserName;
            entry.ModificationTime = DateTimeOffset.UnixEpoch;
            entry.AccessTime = DateTimeOffset.UnixEpoch;
            entry.ChangeTime = DateTimeOffset.UnixEpoch;
            writer.WriteEntry(entry);
            entry.DataStream?.Dispose();
        }
    }

    /// <summary>Every entry below <paramref name="root"/>, parents first, names in ordinal order; links not followed.</summary>
    private static IEnumerable<string> Walk(string root)
    {
        foreach (var path in Directory.EnumerateFileSystemEntries(root).Order(StringComparer.Ordinal))
        {
            yield return path;
            if (Directory.Exists(path) && new DirectoryInfo(path).LinkTarget is null)
            {
                foreach (var inner in Walk(path))
                {
                    yield return inner;
                }
            }
        }
    }

    private static byte[] Config(OciLayer layer, IEnumerable<string> debs)
    {
        var config = new JsonObject
        {
            ["architecture"] = OciPlatform.Architecture,
            ["os"] = "linux",
            ["config"] = new JsonObject
            {
                ["User"] = AppUid.ToString(System.Globalization.CultureInfo.InvariantCulture),
                // The environment the runtime-deps images set.
                ["Env"] = new JsonArray(
                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    $"APP_UID={AppUid}",
                    "ASPNETCORE_HTTP_PORTS=8080",
                    "DOTNET_RUNNING_IN_CONTAINER=true"),
            },
            ["rootfs"] = new JsonObject { ["type"] = "layers", ["diff_ids"] = new JsonArray(layer.DiffId) },
            ["history"] = new JsonArray(new JsonObject
            {
                ["created"] = "1970-01-01T00:00:00Z",
                ["created_by"] = "ghaport test support: " + string.Join(' ', debs.Select(Path.GetFileName)),
            }),
        };
        return JsonSerializer.SerializeToUtf8Bytes(config);
    }

    private static byte[] Manifest(string configDigest, long configSize, OciLayer layer)
    {
        var manifest = new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = OciImage.ManifestMediaType,
            ["config"] = new JsonObject { ["mediaType"] = OciImage.ConfigMediaType, ["digest"] = configDigest, ["size"] = configSize },
            ["layers"] = new JsonArray(new JsonObject { ["mediaType"] = OciImage.LayerMediaType, ["digest"] = layer.Digest, ["size"] = layer.Size }),
        };
        return JsonSerializer.SerializeToUtf8Bytes(manifest);
    }

    private static async Task RunAsync(string fileName, IReadOnlyList<string> args, string workingDirectory, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {fileName}");
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(CommandTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} {string.Join(' ', args)} took more than {CommandTimeout.TotalMinutes} minutes");
        }

        if (process.ExitCode != 0)
        {
            var hint = fileName == "apt-get" ? " (apt's package lists may be missing: run 'apt-get update' once)" : string.Empty;
            throw new InvalidOperationException(
                $"{fileName} {string.Join(' ', args)} exited with {process.ExitCode}{hint}:{Environment.NewLine}{await stdout.ConfigureAwait(false)}{await stderr.ConfigureAwait(false)}");
        }
    }
}
