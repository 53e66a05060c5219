using System.Diagnostics.Metrics;

namespace GitHubActionsPort.Protocol.Tunnels;

/// <summary>
/// Tunnel counters under the meter <c>GitHubActionsPort.Tunnels</c>, for whichever end runs the splice. Each
/// instrument checks for listeners first, so an unobserved process pays a branch per chunk and nothing more.
/// </summary>
internal static class TunnelMetrics
{
    public const string MeterName = "GitHubActionsPort.Tunnels";

    private static readonly Meter Meter = new(MeterName);

    private static readonly Counter<long> Bytes = Meter.CreateCounter<long>(
        "ghaport.tunnel.bytes", "By", "Bytes carried by tunnels, by direction relative to the local socket.");

    private static readonly UpDownCounter<long> Active = Meter.CreateUpDownCounter<long>(
        "ghaport.tunnel.active", "{tunnel}", "Tunnels currently spliced.");

    private static readonly Counter<long> Ended = Meter.CreateCounter<long>(
        "ghaport.tunnel.ended", "{tunnel}", "Tunnels ended, by reason.");

    private static readonly KeyValuePair<string, object?> FromSocket = new("direction", "from_socket");
    private static readonly KeyValuePair<string, object?> ToSocket = new("direction", "to_socket");

    public static void BytesFromSocket(long count)
    {
        if (Bytes.Enabled)
        {
            Bytes.Add(count, FromSocket);
        }
    }

    public static void BytesToSocket(long count)
    {
        if (Bytes.Enabled)
        {
            Bytes.Add(count, ToSocket);
        }
    }

    public static void Started() => Active.Add(1);

    public static void Finished(TunnelEnd end)
    {
        Active.Add(-1);
        if (Ended.Enabled)
        {
            Ended.Add(1, new KeyValuePair<string, object?>("reason", end.ToString()));
        }
    }
}
