namespace GitHubActionsPort.TestSupport;

/// <summary>How a <see cref="FirehoseConnection"/> ended.</summary>
/// <param name="BytesSent">Bytes the target handed to the kernel before the end.</param>
/// <param name="WasReset">True when the far side reset the connection (a send or the final read failed with a reset).</param>
public sealed record FirehoseEnd(long BytesSent, bool WasReset);
