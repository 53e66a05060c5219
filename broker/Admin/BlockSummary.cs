using GitHubActionsPort.Broker.Store;

namespace GitHubActionsPort.Broker.Admin;

/// <summary>One standing block, as the admin endpoint shows it.</summary>
internal sealed record BlockSummary(string Id, IReadOnlyDictionary<string, string> Claims, string Reason, string By, DateTimeOffset CreatedAt, string? RevokedLease = null)
{
    public static BlockSummary Of(SessionBlock block)
    {
        ArgumentNullException.ThrowIfNull(block);
        return new BlockSummary(block.Id, block.Selector.Text, block.Reason, block.By, block.CreatedAt, block.RevokedLease);
    }

    public static BlockSummary Of(BlockRecord block)
    {
        ArgumentNullException.ThrowIfNull(block);
        return new BlockSummary(block.Id, block.Claims, block.Reason, block.By, block.CreatedAt, block.RevokedLease);
    }
}
