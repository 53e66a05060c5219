namespace GitHubActionsPort.Broker.Audit;

/// <summary>The audit trail's settings (<c>Broker:Audit</c>).</summary>
public sealed record AuditOptions
{
    /// <summary>The trail's file (<c>Broker:Audit:Path</c>). Default: <c>audit.jsonl</c> in the broker's data folder.</summary>
    public required string Path { get; init; }

    /// <summary>Size at which the file is rotated, the chain continuing in the next (<c>Broker:Audit:MaxFileBytes</c>). Default: 64 MiB.</summary>
    public long MaxFileBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>
    /// Longest a record waits for others to share its flush to disk (<c>Broker:Audit:GroupCommitWindow</c>).
    /// Default: 2 ms; an acknowledged record has reached the disk.
    /// </summary>
    public TimeSpan GroupCommitWindow { get; init; } = TimeSpan.FromMilliseconds(2);
}
