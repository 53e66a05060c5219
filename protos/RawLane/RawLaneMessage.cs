using Grpc.Core;

namespace GitHubActionsPort.Protocol.RawLane;

/// <summary>One message of the raw lane's short exchange before a connection carries a tunnel's bytes.</summary>
public abstract record RawLaneMessage;

/// <summary>
/// Agent to broker, first on every raw-lane connection: the lease token and a proof of possession signed for
/// <see cref="RawLaneFrame.HelloMethod"/> (no target). A connection the broker accepts is authenticated for that
/// lease and may wait, warm, for its <see cref="RawLaneOpen"/>.
/// </summary>
public sealed record RawLaneHello(string LeaseToken, string Proof) : RawLaneMessage
{
    /// <summary>Never the token itself: records print themselves in logs and test failures.</summary>
    public override string ToString() => $"Hello {{ LeaseToken = ({LeaseToken.Length} chars), Proof = ({Proof.Length} chars) }}";
}

/// <summary>
/// Agent to broker, on an authenticated connection: connect <see cref="Target"/>. After an accepting reply the
/// connection is the tunnel: raw bytes both ways, a half-close for end of stream, a reset for a reset.
/// </summary>
public sealed record RawLaneOpen(string Target) : RawLaneMessage;

/// <summary>
/// Broker to agent, the answer to a Hello or an Open: <see cref="StatusCode.OK"/>, or the same status and words a
/// Tunnel call would have ended with, so both lanes refuse alike.
/// </summary>
public sealed record RawLaneReply(StatusCode Status, string Detail) : RawLaneMessage
{
    public static RawLaneReply Accepted { get; } = new(StatusCode.OK, string.Empty);

    public bool IsAccepted => Status == StatusCode.OK;
}
