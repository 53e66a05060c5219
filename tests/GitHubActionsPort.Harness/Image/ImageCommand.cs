using GitHubActionsPort.TestSupport.Images;

namespace GitHubActionsPort.Harness.Image;

/// <summary>
/// <c>ghaport-harness image --output FILE</c>: the broker's OCI image as a tarball, built with the SDK's container
/// support on a base image made from Debian packages and served on loopback (<see cref="BrokerImage"/>), for hosts
/// that cannot reach mcr.microsoft.com. Prints the tarball's size and the image's size unpacked.
/// </summary>
internal sealed class ImageCommand(ImageOptions options, TextWriter output, TextWriter error) : IHarnessCommand
{
    public async Task<bool> RunAsync(CancellationToken stopping)
    {
        if (!OperatingSystem.IsLinux())
        {
            await error.WriteLineAsync("ghaport-harness: image needs Linux (its base layer is made from Debian packages with dpkg-deb)").ConfigureAwait(false);
            return false;
        }

        var properties = options.Version is null ? null : new Dictionary<string, string> { ["Version"] = options.Version };
        BrokerImageBuild build;
        try
        {
            build = await BrokerImage.PublishAsync(options.Output, properties, log: output, cancellationToken: stopping).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException or IOException or System.ComponentModel.Win32Exception)
        {
            await error.WriteLineAsync($"ghaport-harness: image: {ex.Message}").ConfigureAwait(false);
            return false;
        }

        var archive = await OciArchive.ReadAsync(build.ArchivePath, stopping).ConfigureAwait(false);
        await output.WriteLineAsync($"image {build.ArchivePath}: {archive.PackedSize / 1048576.0:0.0} MiB as a tarball, {archive.UnpackedSize() / 1048576.0:0.0} MiB unpacked (every layer's files)").ConfigureAwait(false);
        return true;
    }
}
