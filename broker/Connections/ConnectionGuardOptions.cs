namespace GitHubActionsPort.Broker.Connections;

/// <summary>The limits one <see cref="ConnectionGuard"/> keeps.</summary>
internal sealed record ConnectionGuardOptions
{
    /// <summary>The listener's name in logs and metrics (<c>broker</c>, <c>admin</c>, <c>metrics</c>).</summary>
    public required string Name { get; init; }

    /// <summary>Connections at once, proven or not; past it the oldest unproven one makes room.</summary>
    public required int MaxConnections { get; init; }

    /// <summary>
    /// Unproven connections at once from one source while the listener is at least half full; past it that source's
    /// oldest unproven one makes room.
    /// </summary>
    public required int MaxUnprovenPerSource { get; init; }

    /// <summary>How long a new connection has to prove itself, TLS handshake included.</summary>
    public required TimeSpan ProveTimeout { get; init; }

    /// <summary>
    /// How much longer an unproven connection may live past <see cref="ProveTimeout"/> while it has a request in
    /// flight (an OpenSession waiting on an issuer's keys), before it is closed all the same.
    /// </summary>
    public required TimeSpan RequestGrace { get; init; }
}
