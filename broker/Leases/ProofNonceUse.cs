namespace GitHubActionsPort.Broker.Leases;

/// <summary>What <see cref="Lease.TryUseProofNonce"/> made of a proof's nonce.</summary>
internal enum ProofNonceUse
{
    /// <summary>Never seen: the proof may be used, and is now remembered.</summary>
    Fresh,

    /// <summary>Seen before: a replayed proof.</summary>
    Replayed,

    /// <summary>The lease already remembers as many recent proofs as it may: too many calls too fast.</summary>
    TooMany,
}
