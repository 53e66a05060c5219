namespace GitHubActionsPort.TestSupport.Images;

/// <summary>
/// One single-platform OCI image held as files: its manifest, its configuration and its layers, each addressed by
/// its <c>sha256:</c> digest, as a registry serves them.
/// </summary>
public sealed record OciImage(
    string Repository,
    string Tag,
    string ManifestDigest,
    byte[] Manifest,
    string ConfigDigest,
    byte[] Config,
    IReadOnlyList<OciLayer> Layers)
{
    public const string ManifestMediaType = "application/vnd.oci.image.manifest.v1+json";
    public const string ConfigMediaType = "application/vnd.oci.image.config.v1+json";
    public const string LayerMediaType = "application/vnd.oci.image.layer.v1.tar+gzip";

    /// <summary>The reference a build names it by on a registry at <paramref name="registry"/> (<c>host:port</c>).</summary>
    public string Reference(string registry) => $"{registry}/{Repository}:{Tag}";
}
