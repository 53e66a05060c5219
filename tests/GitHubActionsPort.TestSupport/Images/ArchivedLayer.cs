using System.Formats.Tar;

namespace GitHubActionsPort.TestSupport.Images;

/// <summary>One layer of an <see cref="OciArchive"/>: its digest and its bytes as stored (gzip or plain tar).</summary>
public sealed class ArchivedLayer(string digest, byte[] bytes)
{
    public string Digest { get; } = digest;

    public byte[] Bytes { get; } = bytes;

    /// <summary>The layer's tar, gunzipped when stored compressed.</summary>
    public byte[] Tar()
    {
        using var input = OciArchive.MaybeGunzip(new MemoryStream(Bytes, writable: false));
        using var copy = new MemoryStream();
        input.CopyTo(copy);
        return copy.ToArray();
    }

    /// <summary>The layer's entries, each with its data when it is a regular file.</summary>
    public IReadOnlyList<LayerEntry> Entries()
    {
        var entries = new List<LayerEntry>();
        using var reader = new TarReader(new MemoryStream(Tar(), writable: false));
        while (reader.GetNextEntry(copyData: false) is { } entry)
        {
            byte[]? data = null;
            if (entry.DataStream is not null)
            {
                using var copy = new MemoryStream();
                entry.DataStream.CopyTo(copy);
                data = copy.ToArray();
            }

            entries.Add(new LayerEntry(entry.Name.TrimStart('.').TrimStart('/'), entry.EntryType, entry.Mode, entry.Uid, entry.Gid, entry.LinkName, data));
        }

        return entries;
    }
}
