using System.Diagnostics;
using System.IO.Compression;
using System.Runtime.Versioning;
using System.Text;

namespace GitHubActionsPort.TestSupport.Images;

/// <summary>
/// Builds the broker's OCI image as the release does (<c>dotnet publish -t:PublishContainer</c>, self-contained,
/// the image settings of the broker's project file) into a tarball, with one difference this machine forces: the
/// base image is <see cref="DebianBaseImage"/>, served by an <see cref="OciRegistry"/> on loopback, in place of
/// Microsoft's runtime-deps image (<c>ContainerBaseImage</c> is the one property changed). Used by the image test
/// and by <c>build.ps1 publish</c> (through <c>ghaport-harness image</c>).
/// </summary>
[SupportedOSPlatform("linux")]
public static class BrokerImage
{
    /// <summary>A self-contained publish plus the image on two busy cores; room for a loaded machine.</summary>
    private static readonly TimeSpan PublishTimeout = TimeSpan.FromMinutes(10);

    /// <summary>The runtime identifier of the image: Linux on this host's architecture (the base layer's).</summary>
    public static string RuntimeIdentifier => OciPlatform.LinuxRuntimeIdentifier;

    /// <summary>
    /// Builds the base image (cached under <c>artifacts/image-base</c>), serves it, and publishes the broker's image
    /// to <paramref name="archivePath"/>. <paramref name="properties"/> are extra MSBuild properties (a version).
    /// </summary>
    public static async Task<BrokerImageBuild> PublishAsync(
        string archivePath,
        IReadOnlyDictionary<string, string>? properties = null,
        IReadOnlyDictionary<string, string>? environment = null,
        TextWriter? log = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(archivePath);
        var root = PublishedAgent.RepositoryRoot();
        log?.WriteLine($"base image: {string.Join(' ', DebianBaseImage.Packages)} (Debian packages, cached in artifacts/image-base)");
        var baseImage = await DebianBaseImage.BuildAsync(Path.Combine(root, "artifacts", "image-base"), cancellationToken).ConfigureAwait(false);
        await using var registry = await OciRegistry.StartAsync(baseImage, cancellationToken).ConfigureAwait(false);
        log?.WriteLine($"base image served at {registry.ImageReference}");

        var target = Path.GetFullPath(archivePath);
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        if (File.Exists(target))
        {
            File.Delete(target);
        }

        // The app layer is the whole publish folder: a file left from an earlier publish would ship.
        var publishDir = Path.Combine(root, "artifacts", "image-publish", RuntimeIdentifier);
        if (Directory.Exists(publishDir))
        {
            Directory.Delete(publishDir, recursive: true);
        }

        // The SDK writes a plain tar whatever the name; a .gz name gets a gzip of it (docker load reads either).
        var compress = target.EndsWith(".gz", StringComparison.OrdinalIgnoreCase);
        var archive = compress ? Path.Combine(Path.GetDirectoryName(publishDir)!, RuntimeIdentifier + ".tar") : target;
        if (File.Exists(archive))
        {
            File.Delete(archive);
        }

        string[] args =
        [
            "publish", Path.Combine(root, "broker", "GitHubActionsPort.Broker.csproj"),
            "-c", "Release",
            "-r", RuntimeIdentifier,
            "--self-contained",
            "-t:PublishContainer",
            $"-p:ContainerBaseImage={registry.ImageReference}",
            $"-p:ContainerArchiveOutputPath={archive}",
            $"-p:PublishDir={publishDir}/",
            // Its own bin and obj folders: a -p:Version or the runtime identifier must not rewrite the outputs of the
            // ordinary build (the tests' own) under each project.
            "--artifacts-path", Path.Combine(root, "artifacts", "image-build"),
            "--nologo",
            "-v", "q",
            .. (properties ?? new Dictionary<string, string>()).Select(p => $"-p:{p.Key}={p.Value}"),
        ];
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = root,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        // The SDK tries TLS first and falls back to plain HTTP only for registries named here.
        start.Environment["DOTNET_CONTAINER_INSECURE_REGISTRIES"] = registry.Address;
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        log?.WriteLine($"> dotnet {string.Join(' ', args)}");
        using var process = Process.Start(start) ?? throw new InvalidOperationException("cannot start dotnet publish");
        var printed = new StringBuilder();
        var stdout = PumpAsync(process.StandardOutput, printed, log);
        var stderr = PumpAsync(process.StandardError, printed, log);
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            timeout.CancelAfter(PublishTimeout);
            try
            {
                await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                cancellationToken.ThrowIfCancellationRequested();
                throw new TimeoutException($"dotnet publish -t:PublishContainer took more than {PublishTimeout.TotalMinutes} minutes");
            }
        }

        await Task.WhenAll(stdout, stderr).ConfigureAwait(false);
        if (process.ExitCode != 0 || !File.Exists(archive))
        {
            throw new InvalidOperationException($"dotnet publish -t:PublishContainer exited with {process.ExitCode} (archive {(File.Exists(archive) ? "written" : "missing")}):{Environment.NewLine}{printed}");
        }

        if (compress)
        {
            await using (var input = File.OpenRead(archive))
            await using (var output = File.Create(target))
            await using (var gzip = new GZipStream(output, CompressionLevel.Optimal))
            {
                await input.CopyToAsync(gzip, cancellationToken).ConfigureAwait(false);
            }

            File.Delete(archive);
        }

        return new BrokerImageBuild(target, baseImage, [.. registry.BlobsServed]);
    }

    private static async Task PumpAsync(StreamReader reader, StringBuilder output, TextWriter? log)
    {
        while (await reader.ReadLineAsync().ConfigureAwait(false) is { } line)
        {
            lock (output)
            {
                output.AppendLine(line);
            }

            log?.WriteLine(line);
        }
    }
}
