using Grpc.Core;

namespace GitHubActionsPort.Protocol;

/// <summary>
/// How a broker instance that is stopping (SIGTERM, a service stop) tells an agent to go to another instance: while
/// it drains it refuses new sessions, new tunnels on either lane and WatchSession calls with
/// <see cref="StatusCode.Unavailable"/> and a detail that starts with <see cref="DetailStart"/>; the gRPC lane also
/// sends the <see cref="Trailer"/> trailer (value <c>1</c>). Tunnels already open run on until they finish or the
/// broker's drain timeout passes. An agent told this opens new tunnels (and, if it must, sessions) through another
/// broker; its lease stays good there.
/// </summary>
public static class BrokerDraining
{
    /// <summary>The gRPC trailer that marks a draining refusal, for clients that read metadata rather than words.</summary>
    public const string Trailer = "ghaport-draining";

    /// <summary>How every draining refusal's detail begins; the words after it say what to do instead.</summary>
    public const string DetailStart = "the broker is draining";

    /// <summary>The detail of a refused tunnel (either lane).</summary>
    public const string TunnelDetail = DetailStart + " (stopping); open new tunnels through another instance";

    /// <summary>The detail of a refused session.</summary>
    public const string SessionDetail = DetailStart + " (stopping); open the session through another instance";

    /// <summary>The detail of a WatchSession call, answered when the drain begins or refused during it.</summary>
    public const string WatchDetail = DetailStart + " (stopping); watch the lease through another instance";

    /// <summary>The refusal with <paramref name="detail"/> (one of the details above) and the trailer.</summary>
    public static RpcException Refusal(string detail) =>
        new(new Status(StatusCode.Unavailable, detail), new Metadata { { Trailer, "1" } });

    /// <summary>Whether <paramref name="status"/> is a draining broker's refusal (the raw lane's replies carry no trailer).</summary>
    public static bool IsDraining(Status status) =>
        status.StatusCode == StatusCode.Unavailable && (status.Detail ?? string.Empty).StartsWith(DetailStart, StringComparison.Ordinal);
}
