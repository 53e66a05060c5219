using System.Text.Json;

namespace GitHubActionsPort.Broker.Audit;

/// <summary>The outcome of <c>audit verify</c>: the records checked, and the first broken one if any.</summary>
public sealed record AuditVerification(long Records, string? BrokenFile, long BrokenLine, string? Problem)
{
    public bool IsIntact => Problem is null;

    /// <summary>The <c>seq</c> of the first record kept: 1 unless older files are gone.</summary>
    public long FirstRecord { get; init; } = 1;

    /// <summary>True when the records before <see cref="FirstRecord"/> were removed by the broker's retention, as its last <c>audit.retention</c> record says.</summary>
    public bool OlderRemovedByRetention { get; init; }
}

/// <summary>
/// Walks a trail (its rotated files, oldest first, then the current one) and checks every link of the chain:
/// numbering without gaps and each line naming the hash of the line before it.
/// </summary>
/// <remarks>
/// A trail may start after record 1 when its oldest files are gone. Retention (<c>Broker:Audit:MaxFiles</c>,
/// <c>MaxTotalBytes</c>) records what it kept in an <c>audit.retention</c> record: the first kept record's
/// <c>seq</c> and <c>prev</c>. The trail is then intact only if it starts exactly there: a kept file removed by
/// anything else, or a forged first record, breaks it. A trail that starts after record 1 with no retention record
/// (files an operator archived) is accepted as before, and <see cref="AuditVerification.FirstRecord"/> says so.
/// </remarks>
public static class AuditVerifier
{
    public static AuditVerification Verify(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var full = Path.GetFullPath(path);
        var files = AuditFiles.Rotated(full).Append(full).Where(File.Exists).ToList();
        if (files.Count == 0)
        {
            return new AuditVerification(0, full, 0, "the trail does not exist");
        }

        var prev = AuditChain.Genesis;
        long seq = 0;
        long records = 0;
        (long Seq, string Prev) first = (1, AuditChain.Genesis);
        (long Seq, string? Prev)? kept = null;
        foreach (var file in files)
        {
            long lineNumber = 0;
            foreach (var line in File.ReadLines(file))
            {
                lineNumber++;
                if (line.Length == 0)
                {
                    return new AuditVerification(records, file, lineNumber, "an empty line (a record was cut or removed)");
                }

                if (!TryReadLink(line, out var lineSeq, out var linePrev, out var retention))
                {
                    return new AuditVerification(records, file, lineNumber, "not a record (its JSON, seq or prev is missing or malformed)");
                }

                // The first record seen may continue an older trail whose files are gone; from then on, no gaps.
                if (records > 0 && lineSeq != seq + 1)
                {
                    return new AuditVerification(records, file, lineNumber, $"record {lineSeq} follows record {seq} (a record was removed, added or moved)");
                }

                // The chain is checked from the first record of the trail, or from the first record that follows one.
                var chained = records > 0 || lineSeq == 1;
                if (chained && linePrev != prev)
                {
                    // The broken record is the one before, whose text no longer hashes to what this one names.
                    return new AuditVerification(records, file, Math.Max(1, lineNumber - 1),
                        $"the record before record {lineSeq} is not the one it was chained to (it was edited, removed or moved)");
                }

                if (records == 0)
                {
                    first = (lineSeq, linePrev);
                }

                kept = retention ?? kept;
                seq = lineSeq;
                prev = AuditChain.HashOf(line);
                records++;
            }
        }

        if (kept is { } window && first.Seq != 1)
        {
            if (first.Seq != window.Seq || first.Prev != window.Prev)
            {
                return new AuditVerification(0, files[0], 1,
                    $"the trail starts at record {first.Seq}, but its last retention record kept the files from record {window.Seq} on (a kept file was removed, or its first record replaced)");
            }

            return new AuditVerification(records, null, 0, null) { FirstRecord = first.Seq, OlderRemovedByRetention = true };
        }

        return new AuditVerification(records, null, 0, null) { FirstRecord = first.Seq };
    }

    /// <summary>Reads a line's link (<c>seq</c>, <c>prev</c>), and what an <c>audit.retention</c> record says it kept.</summary>
    private static bool TryReadLink(string line, out long seq, out string prev, out (long Seq, string? Prev)? retention)
    {
        seq = 0;
        prev = string.Empty;
        retention = null;
        try
        {
            using var json = JsonDocument.Parse(line);
            var root = json.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("seq", out var seqElement) || !seqElement.TryGetInt64(out seq)
                || !root.TryGetProperty("prev", out var prevElement) || prevElement.ValueKind != JsonValueKind.String)
            {
                return false;
            }

            prev = prevElement.GetString()!;
            if (root.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String && type.GetString() == AuditRetention.RecordType
                && root.TryGetProperty("first_kept_seq", out var keptSeq) && keptSeq.TryGetInt64(out var keptFrom))
            {
                retention = (keptFrom, root.TryGetProperty("first_kept_prev", out var keptPrev) && keptPrev.ValueKind == JsonValueKind.String ? keptPrev.GetString() : null);
            }

            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
