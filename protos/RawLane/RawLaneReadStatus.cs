namespace GitHubActionsPort.Protocol.RawLane;

/// <summary>What <see cref="RawLaneFrame.TryRead"/> made of the bytes so far.</summary>
public enum RawLaneReadStatus
{
    /// <summary>Not a whole message yet; nothing was consumed.</summary>
    NeedMore,

    /// <summary>One message was read and its bytes consumed.</summary>
    Read,

    /// <summary>The bytes are not a message of this lane (or of this version); the connection must end.</summary>
    Invalid,
}
