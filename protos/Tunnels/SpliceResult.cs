namespace GitHubActionsPort.Protocol.Tunnels;

/// <summary>The outcome of a splice: why it ended, the first error, and the bytes moved each way.</summary>
/// <param name="End">Why the tunnel ended.</param>
/// <param name="Error">The error that ended it, if any.</param>
/// <param name="BytesFromSocket">Bytes read from the socket and sent as frames.</param>
/// <param name="BytesToSocket">Bytes received as frames and written to the socket.</param>
public sealed record SpliceResult(TunnelEnd End, Exception? Error, long BytesFromSocket, long BytesToSocket);
