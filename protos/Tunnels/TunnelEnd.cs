namespace GitHubActionsPort.Protocol.Tunnels;

/// <summary>Why a tunnel ended, seen from the end that ran the splice.</summary>
public enum TunnelEnd
{
    /// <summary>Both directions reached end of stream.</summary>
    Completed,

    /// <summary>The local TCP socket failed or was reset.</summary>
    SocketFailed,

    /// <summary>The far side failed (the gRPC stream or the raw-lane connection): reset, ended with an error, or broke the protocol.</summary>
    StreamFailed,

    /// <summary>The caller cancelled the tunnel (shutdown, lease end).</summary>
    Canceled,
}
