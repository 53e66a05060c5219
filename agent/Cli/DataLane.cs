namespace GitHubActionsPort.Agent.Cli;

/// <summary>Which lane carries the tunnels (<c>--lane</c>).</summary>
public enum DataLane
{
    /// <summary>The raw lane when the broker offers it and it can be reached; else the gRPC lane.</summary>
    Auto,

    /// <summary>The raw lane only: a tunnel it cannot carry is refused, never moved to the gRPC lane.</summary>
    Raw,

    /// <summary>Tunnel calls on the gRPC channel only (through an HTTP/2 proxy, for one).</summary>
    Grpc,
}
