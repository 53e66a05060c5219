namespace GitHubActionsPort.Protocol.Tunnels;

/// <summary>How one copy loop ended and how many bytes it moved.</summary>
internal readonly record struct CopyOutcome(CopyResult Result, long Bytes, Exception? Error);
