using System.Text.Json;

namespace GitHubActionsPort.Broker.Audit;

/// <summary>
/// Deletes the oldest rotated files beyond <see cref="AuditOptions.MaxFiles"/> or <see cref="AuditOptions.MaxTotalBytes"/>,
/// and says what it kept: the first kept record's <c>seq</c> and <c>prev</c> go into an <c>audit.retention</c>
/// record in the current file, chained like any other, so <c>audit verify</c> can tell the start of the kept window
/// (older files removed by retention) from files removed by anything else.
/// </summary>
internal sealed record AuditRetention(IReadOnlyList<string> Removed, long? FirstKeptSeq, string? FirstKeptPrev)
{
    public const string RecordType = "audit.retention";

    /// <summary>
    /// Applies retention after a rotation, before the current file's first record is written; null when nothing was
    /// removed. <paramref name="nextSeq"/> and <paramref name="nextPrev"/> are that next record's link, the first kept
    /// when every rotated file goes.
    /// </summary>
    public static AuditRetention? Apply(AuditOptions options, long nextSeq, string nextPrev)
    {
        if (options.MaxFiles <= 0 && options.MaxTotalBytes <= 0)
        {
            return null;
        }

        var rotated = AuditFiles.Rotated(options.Path).ToList();
        var total = rotated.Sum(f => new FileInfo(f).Length) + (File.Exists(options.Path) ? new FileInfo(options.Path).Length : 0);
        var removed = new List<string>();
        // The current file counts too, and is never removed.
        while (rotated.Count > 0 && ((options.MaxFiles > 0 && rotated.Count + 1 > options.MaxFiles) || (options.MaxTotalBytes > 0 && total > options.MaxTotalBytes)))
        {
            var oldest = rotated[0];
            var size = new FileInfo(oldest).Length;
            try
            {
                File.Delete(oldest);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Kept, and so is everything newer: what was removed so far is what the record says.
                break;
            }

            rotated.RemoveAt(0);
            total -= size;
            removed.Add(Path.GetFileName(oldest));
        }

        if (removed.Count == 0)
        {
            return null;
        }

        var (seq, prev) = rotated.Count > 0 ? FirstLink(rotated[0]) : (nextSeq, nextPrev);
        return new AuditRetention(removed, seq, prev);
    }

    public AuditRecord ToRecord() => new(RecordType, new Dictionary<string, object?>
    {
        ["removed_files"] = Removed,
        ["first_kept_seq"] = FirstKeptSeq,
        ["first_kept_prev"] = FirstKeptPrev,
    });

    /// <summary>The <c>seq</c> and <c>prev</c> of a file's first record, or nulls when it has none yet.</summary>
    private static (long? Seq, string? Prev) FirstLink(string file)
    {
        if (!File.Exists(file))
        {
            return (null, null);
        }

        using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        if (reader.ReadLine() is not { Length: > 0 } line)
        {
            return (null, null);
        }

        try
        {
            using var json = JsonDocument.Parse(line);
            return (json.RootElement.GetProperty("seq").GetInt64(), json.RootElement.GetProperty("prev").GetString());
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            return (null, null);
        }
    }
}
