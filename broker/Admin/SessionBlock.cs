using GitHubActionsPort.Broker.Store;

namespace GitHubActionsPort.Broker.Admin;

/// <summary>
/// A standing block: sessions whose caller matches <see cref="Selector"/> are refused until it is lifted. A block a
/// revocation placed by itself names the lease it revoked (<see cref="RevokedLease"/>) and covers that lease's run
/// attempt only.
/// </summary>
internal sealed record SessionBlock(string Id, ClaimSelector Selector, string Reason, string By, DateTimeOffset CreatedAt, string? RevokedLease = null)
{
    /// <summary>The block as the store holds it: the selector's patterns as text.</summary>
    public BlockRecord ToRecord() => new(Id, Selector.Text, Reason, By, CreatedAt, RevokedLease);

    /// <summary>A block read back from the store; <see cref="InvalidDataException"/> when its patterns no longer parse.</summary>
    public static SessionBlock FromRecord(BlockRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (!ClaimSelector.TryParse(record.Claims, out var selector, out var error))
        {
            throw new InvalidDataException($"block {record.Id}: {error}");
        }

        return new SessionBlock(record.Id, selector!, record.Reason, record.By, record.CreatedAt, record.RevokedLease);
    }
}
