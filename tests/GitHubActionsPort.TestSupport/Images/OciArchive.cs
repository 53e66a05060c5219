using System.Formats.Tar;
using System.IO.Compression;
using System.Text.Json.Nodes;

namespace GitHubActionsPort.TestSupport.Images;

/// <summary>
/// An image tarball read whole into memory, in either layout an image tarball comes in: an OCI image layout
/// (<c>oci-layout</c>, <c>index.json</c>, <c>blobs/sha256/...</c>) or <c>docker save</c>'s (<c>manifest.json</c>
/// naming a configuration file and layer files). Gives the image's configuration, its manifest (OCI layout only)
/// and its layers in order.
/// </summary>
public sealed class OciArchive
{
    /// <summary>The keys of a <c>docker save</c> manifest.json entry.</summary>
    private const string DockerConfig = "Config";
    private const string DockerLayers = "Layers";

    private readonly Dictionary<string, byte[]> _files;

    private OciArchive(Dictionary<string, byte[]> files, long packedSize)
    {
        _files = files;
        PackedSize = packedSize;
        if (files.TryGetValue("index.json", out var indexBytes))
        {
            Index = JsonNode.Parse(indexBytes)!;
            var descriptor = Index["manifests"]!.AsArray().Single()!;
            Manifest = JsonNode.Parse(Blob(descriptor["digest"]!.GetValue<string>()))!;
            if (Manifest["manifests"] is JsonArray inner)
            {
                // An image index (several platforms): this archive holds one.
                Manifest = JsonNode.Parse(Blob(inner.Single()!["digest"]!.GetValue<string>()))!;
            }

            Config = JsonNode.Parse(Blob(Manifest["config"]!["digest"]!.GetValue<string>()))!;
            Layers = [.. Manifest["layers"]!.AsArray().Select(l => l!["digest"]!.GetValue<string>()).Select(d => new ArchivedLayer(d, Blob(d)))];
        }
        else
        {
            var entry = JsonNode.Parse(files["manifest.json"])!.AsArray().Single()!;
            Config = JsonNode.Parse(files[entry[DockerConfig]!.GetValue<string>()])!;
            Layers = [.. entry[DockerLayers]!.AsArray().Select(l => l!.GetValue<string>()).Select(name => new ArchivedLayer(OciDigest.Of(files[name]), files[name]))];
        }
    }

    /// <summary>The size of the tarball as written.</summary>
    public long PackedSize { get; }

    /// <summary>The layout's <c>index.json</c>; null for a <c>docker save</c> archive.</summary>
    public JsonNode? Index { get; }

    /// <summary>The image manifest; null for a <c>docker save</c> archive.</summary>
    public JsonNode? Manifest { get; }

    /// <summary>The image configuration (<c>config</c>: Entrypoint, Cmd, User, Env, ExposedPorts, Labels, ...).</summary>
    public JsonNode Config { get; }

    /// <summary>The layers, base first.</summary>
    public IReadOnlyList<ArchivedLayer> Layers { get; }

    /// <summary>The names of the archive's own entries.</summary>
    public IEnumerable<string> FileNames => _files.Keys;

    public static async Task<OciArchive> ReadAsync(string path, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(path);
        var files = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        await using var file = File.OpenRead(path);
        await using var stream = MaybeGunzip(file);
        await using var reader = new TarReader(stream);
        while (await reader.GetNextEntryAsync(copyData: false, cancellationToken).ConfigureAwait(false) is { } entry)
        {
            if (entry.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile && entry.DataStream is not null)
            {
                using var copy = new MemoryStream();
                await entry.DataStream.CopyToAsync(copy, cancellationToken).ConfigureAwait(false);
                files[entry.Name.TrimStart('.', '/')] = copy.ToArray();
            }
        }

        return new OciArchive(files, new FileInfo(path).Length);
    }

    /// <summary>The bytes of every layer's tar, as a container runtime unpacks them.</summary>
    public long UnpackedSize() => Layers.Sum(l => l.Tar().LongLength);

    /// <summary>A blob of an OCI layout by its digest.</summary>
    public byte[] Blob(string digest)
    {
        ArgumentNullException.ThrowIfNull(digest);
        var parts = digest.Split(':', 2);
        return _files[$"blobs/{parts[0]}/{parts[1]}"];
    }

    /// <summary>A stream of <paramref name="file"/>, gunzipped when it starts with gzip's magic bytes.</summary>
    internal static Stream MaybeGunzip(Stream file)
    {
        var head = new byte[2];
        var read = file.Read(head);
        file.Position = 0;
        return read == 2 && head is [0x1f, 0x8b] ? new GZipStream(file, CompressionMode.Decompress) : file;
    }
}
