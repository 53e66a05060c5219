namespace GitHubActionsPort.Broker.Admin;

/// <summary>The body of <c>POST /admin/revoke</c>: one lease by id, or every lease whose caller matches the claims.</summary>
internal sealed record RevokeRequest
{
    /// <summary>The lease to end; exclusive with <see cref="Claims"/>.</summary>
    public string? LeaseId { get; init; }

    /// <summary>Claim name to glob pattern; every one must match (as a rule's claims).</summary>
    public Dictionary<string, string>? Claims { get; init; }

    /// <summary>Also refuse new sessions matching <see cref="Claims"/> until the block is lifted.</summary>
    public bool Block { get; init; }

    /// <summary>Why, for the log and the job's own error message.</summary>
    public string? Reason { get; init; }

    /// <summary>Who asks (the CLI sends the operator's user and host); recorded, not trusted for access.</summary>
    public string? By { get; init; }
}
