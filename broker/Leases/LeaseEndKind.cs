namespace GitHubActionsPort.Broker.Leases;

/// <summary>
/// Why a lease ended. Only <see cref="Revoked"/>, <see cref="Blocked"/> and <see cref="NoLongerPermitted"/> end the
/// job's access: the agent is told so and opens no new session. After the others a job may ask again with a fresh
/// id-token (an expired lease is the design's normal end).
/// </summary>
internal enum LeaseEndKind
{
    /// <summary>Still live, or it ran out (expiry is a timer, not a call to <see cref="Lease.End"/>).</summary>
    Expired,

    /// <summary>The agent closed it (<c>ghaport down</c>, a stop).</summary>
    Closed,

    /// <summary>An operator revoked it.</summary>
    Revoked,

    /// <summary>An operator's block matches its job.</summary>
    Blocked,

    /// <summary>A policy reload no longer permits it.</summary>
    NoLongerPermitted,

    /// <summary>The broker is stopping, or could not record the grant: nothing the job did.</summary>
    Broker,
}
