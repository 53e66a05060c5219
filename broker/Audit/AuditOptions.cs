namespace GitHubActionsPort.Broker.Audit;

/// <summary>The audit trail's settings (<c>Broker:Audit</c>).</summary>
public sealed record AuditOptions
{
    /// <summary>The trail's file (<c>Broker:Audit:Path</c>). Default: <c>audit.jsonl</c> in the broker's data folder.</summary>
    public required string Path { get; init; }

    /// <summary>Size at which the file is rotated, the chain continuing in the next (<c>Broker:Audit:MaxFileBytes</c>). Default: 64 MiB.</summary>
    public long MaxFileBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>
    /// Most files the trail keeps, the current one included (<c>Broker:Audit:MaxFiles</c>): at a rotation the oldest
    /// rotated files beyond it are deleted, and an <c>audit.retention</c> record says which. Default: 0, no limit
    /// (every rotated file is kept until an operator moves it).
    /// </summary>
    public int MaxFiles { get; init; }

    /// <summary>
    /// Most bytes the trail's files take together (<c>Broker:Audit:MaxTotalBytes</c>): at a rotation the oldest
    /// rotated files are deleted until the rest fit (the current file is never deleted). Default: 0, no limit.
    /// </summary>
    public long MaxTotalBytes { get; init; }

    /// <summary>
    /// Longest a record waits for others to share its flush to disk (<c>Broker:Audit:GroupCommitWindow</c>).
    /// Default: 2 ms; an acknowledged record has reached the disk.
    /// </summary>
    public TimeSpan GroupCommitWindow { get; init; } = TimeSpan.FromMilliseconds(2);

    /// <summary>
    /// While the trail cannot be written, how often it tries the disk again with no record waiting, so it recovers
    /// (and <c>/healthz</c> with it) by itself once space returns. Default: 5 s.
    /// </summary>
    public TimeSpan RetryInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The interval over which refused id-tokens are counted rather than each written (<c>Broker:Audit:RefusalInterval</c>):
    /// the first refusal per peer address and reason in an interval is written at once, the others are counted and
    /// written as one <c>session.rejected</c> record with their <c>count</c> when the interval ends. Default: 1 minute.
    /// </summary>
    public TimeSpan RefusalInterval { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Most peer-and-reason pairs counted apart in one interval (<c>Broker:Audit:MaxRefusalGroups</c>); refusals
    /// beyond them are counted together under one overflow group, so many source addresses cannot grow the broker's
    /// memory or the trail. Default: 100.
    /// </summary>
    public int MaxRefusalGroups { get; init; } = 100;
}
