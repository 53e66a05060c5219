using System.Text.Json;

namespace GitHubActionsPort.TestSupport;

/// <summary>
/// Reads a live broker's audit trail (JSON lines) while the broker keeps writing it, and waits for a record that is
/// not there yet by watching the file for changes rather than polling it.
/// </summary>
public static class AuditTrailFile
{
    /// <summary>Every whole record in the file now (a line still being written is left out); none when there is no file.</summary>
    public static IReadOnlyList<JsonElement> Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            return [];
        }

        string text;
        // The broker holds the file open for appending; share it rather than ask for it alone.
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
        using (var reader = new StreamReader(stream))
        {
            text = reader.ReadToEnd();
        }

        var records = new List<JsonElement>();
        var complete = text.LastIndexOf('\n');
        foreach (var line in text[..(complete + 1)].Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            using var json = JsonDocument.Parse(line);
            records.Add(json.RootElement.Clone());
        }

        return records;
    }

    /// <summary>The first record, already written or still to come, that <paramref name="match"/> accepts; bounded by the default timeout.</summary>
    public static async Task<JsonElement> WaitForAsync(string path, Func<JsonElement, bool> match)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(match);
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(folder);
        using var changed = new SemaphoreSlim(0);
        using var watcher = new FileSystemWatcher(folder, Path.GetFileName(path))
        {
            NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.FileName,
        };
        watcher.Changed += (_, _) => changed.Release();
        watcher.Created += (_, _) => changed.Release();
        // Watching starts before the first read, so a record written in between still wakes the loop below.
        watcher.EnableRaisingEvents = true;

        using var stop = new CancellationTokenSource();
        try
        {
            return await FindAsync(stop.Token).DefaultTimeout($"an audit record in {path} that matches").ConfigureAwait(false);
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
        }

        async Task<JsonElement> FindAsync(CancellationToken cancellationToken)
        {
            while (true)
            {
                foreach (var record in Read(path))
                {
                    if (match(record))
                    {
                        return record;
                    }
                }

                await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>The record's <c>type</c>, such as <c>tunnel.closed</c>.</summary>
    public static string TypeOf(JsonElement record) => record.GetProperty("type").GetString() ?? string.Empty;

    /// <summary>A string field of the record, or null when it has none.</summary>
    public static string? Field(JsonElement record, string name) =>
        record.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}
