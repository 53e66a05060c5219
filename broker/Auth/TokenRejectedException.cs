namespace GitHubActionsPort.Broker.Auth;

/// <summary>
/// The id-token is not acceptable. <see cref="Reason"/> says why in words the job can act on;
/// <see cref="Claimed"/> is who the token claimed to be (unverified, sanitised <c>iss</c>, <c>sub</c>, <c>jti</c>),
/// so the audit line names the token without holding it. The message carries both: it is logged and returned to
/// the caller, who sent those claims and learns nothing from them, so it holds nothing of the broker's policy.
/// </summary>
public sealed class TokenRejectedException(string reason, string? claimed = null)
    : Exception(claimed is null ? reason : $"{reason} (claimed {claimed})")
{
    public string Reason { get; } = reason;

    /// <summary><c>iss="…", sub="…", jti="…"</c> as the token stated them, or null if it could not be read.</summary>
    public string? Claimed { get; } = claimed;
}
