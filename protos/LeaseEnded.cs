using Grpc.Core;

namespace GitHubActionsPort.Protocol;

/// <summary>
/// How the broker tells an agent its lease was ended for good — revoked by an operator, blocked, or no longer
/// permitted by the policy — as distinct from a lease it lost (a restart) or one that expired: on every lease-bearing
/// call (a Tunnel or RenewSession status, a raw-lane Hello or Open reply, the WatchSession answer) the status is
/// <see cref="StatusCode.PermissionDenied"/> and its detail starts with <c>lease ended (KIND): </c>; the gRPC lane
/// also names the kind alone in the <see cref="Trailer"/> trailer. An agent told this opens no new session: the
/// job's access is over.
/// </summary>
public static class LeaseEnded
{
    /// <summary>The gRPC trailer naming the kind, for clients that read metadata rather than words.</summary>
    public const string Trailer = "ghaport-lease-ended";

    /// <summary>An operator revoked the lease (<c>ghaport-broker sessions revoke</c>).</summary>
    public const string Revoked = "revoked";

    /// <summary>An operator's block matches the job (<c>sessions revoke --block</c>).</summary>
    public const string Blocked = "blocked";

    /// <summary>A policy reload no longer permits the lease's targets for the job.</summary>
    public const string Policy = "policy";

    private const string Prefix = "lease ended (";

    /// <summary>The status detail for a lease ended for good: the kind, then the broker's words.</summary>
    public static string Detail(string kind, string words) => $"{Prefix}{kind}): {words}";

    /// <summary>The status a lease-bearing call of a lease ended for good is refused with.</summary>
    public static Status Status(string kind, string words) => new(StatusCode.PermissionDenied, Detail(kind, words));

    /// <summary>Whether <paramref name="status"/> says the lease was ended for good, and how.</summary>
    public static bool TryRead(Status status, out string kind)
    {
        kind = string.Empty;
        var detail = status.Detail ?? string.Empty;
        if (status.StatusCode != StatusCode.PermissionDenied || !detail.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return false;
        }

        var close = detail.IndexOf(')', Prefix.Length);
        if (close < 0)
        {
            return false;
        }

        var named = detail[Prefix.Length..close];
        if (named is not (Revoked or Blocked or Policy))
        {
            return false;
        }

        kind = named;
        return true;
    }
}
