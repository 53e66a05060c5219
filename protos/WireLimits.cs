namespace GitHubActionsPort.Protocol;

/// <summary>Sizes and names both ends of the wire agree on.</summary>
public static class WireLimits
{
    /// <summary>
    /// Largest data frame payload. 64 KiB keeps each pooled buffer under the large-object-heap threshold while
    /// amortising per-message gRPC costs; bigger chunks measured no faster.
    /// </summary>
    public const int MaxChunkSize = 64 * 1024;

    /// <summary>Largest gRPC message either end accepts: one data frame with its envelope, or a session request.</summary>
    public const int MaxMessageSize = 128 * 1024;

    /// <summary>Request header naming the target of a tunnel call.</summary>
    public const string TargetHeader = "ghaport-target";

    /// <summary>
    /// Response header the broker sends on a tunnel call once the target is connected. A refusal is a
    /// trailers-only response, which gRPC clients surface as headers too; this header tells the two apart.
    /// </summary>
    public const string ConnectedHeader = "ghaport-connected";

    /// <summary>
    /// The start of the Unauthenticated detail for a lease the broker does not know (it restarted, or the lease
    /// ended there): the agent reopens its session on it. Both ends use this one text.
    /// </summary>
    public const string LeaseUnknownDetail = "the lease is unknown or has ended";

    /// <summary>Authorization scheme of the lease token on tunnel calls.</summary>
    public const string LeaseScheme = "Lease";
}
