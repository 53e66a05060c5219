namespace GitHubActionsPort.Broker.RawLane;

/// <summary>
/// The lanes this broker offers, as agents are told in every lease: whether Tunnel calls are served, and the port
/// of the raw lane once it listens (0 while it does not).
/// </summary>
internal sealed class DataLanes(LaneSettings settings)
{
    private int _rawPort;

    public bool GrpcEnabled => settings.GrpcEnabled;

    /// <summary>The port agents dial for the raw lane; 0 when the lane is off or not yet listening.</summary>
    public int RawPort => Volatile.Read(ref _rawPort);

    /// <summary>Called by the listener once bound: the advertised port, if one is configured, else the bound one.</summary>
    public void RawLaneListening(int boundPort) => Volatile.Write(ref _rawPort, settings.RawAdvertisedPort ?? boundPort);

    public void RawLaneStopped() => Volatile.Write(ref _rawPort, 0);
}
