namespace GitHubActionsPort.TestSupport;

/// <summary>What <see cref="BytePattern.ReadUntilClosedAsync"/> saw.</summary>
/// <param name="Received">Bytes read before the end.</param>
/// <param name="WasReset">True for a TCP reset, false for a clean FIN.</param>
/// <param name="MismatchAt">Offset of the first chunk that was not the stream's bytes; null when every byte was right.</param>
public sealed record PatternReadResult(long Received, bool WasReset, long? MismatchAt);
