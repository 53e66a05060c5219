using System.Text.Json;

namespace GitHubActionsPort.Broker.Audit;

/// <summary>The outcome of <c>audit verify</c>: the records checked, and the first broken one if any.</summary>
public sealed record AuditVerification(long Records, string? BrokenFile, long BrokenLine, string? Problem)
{
    public bool IsIntact => Problem is null;
}

/// <summary>
/// Walks a trail (its rotated files, oldest first, then the current one) and checks every link of the chain:
/// numbering without gaps and each line naming the hash of the line before it.
/// </summary>
public static class AuditVerifier
{
    public static AuditVerification Verify(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var full = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(full)!;
        var rotated = Directory.Exists(directory)
            // ".*" also matches the file itself (DOS wildcard rules), which comes last on its own.
            ? Directory.GetFiles(directory, Path.GetFileName(full) + ".*").Where(f => f != full).Order(StringComparer.Ordinal).ToList()
            : [];
        var files = rotated.Append(full).Where(File.Exists).ToList();
        if (files.Count == 0)
        {
            return new AuditVerification(0, full, 0, "the trail does not exist");
        }

        var prev = AuditChain.Genesis;
        long seq = 0;
        long records = 0;
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

                if (!TryReadLink(line, out var lineSeq, out var linePrev))
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

                seq = lineSeq;
                prev = AuditChain.HashOf(line);
                records++;
            }
        }

        return new AuditVerification(records, null, 0, null);
    }

    private static bool TryReadLink(string line, out long seq, out string prev)
    {
        seq = 0;
        prev = string.Empty;
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
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
