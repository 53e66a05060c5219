using System.Globalization;

namespace GitHubActionsPort.Harness.Bench;

/// <summary>The results' stable keys, shared by the runner that makes them, the goals that read them, and the JSON.</summary>
internal static class ScenarioKeys
{
    public const string OneStreamUpload = "one-stream-upload";
    public const string OneStreamDownload = "one-stream-download";
    public const string EightStreamsUpload = "eight-streams-upload";
    public const string EightStreamsDownload = "eight-streams-download";
    public const string RoundTripP50 = "rtt-p50";
    public const string RoundTripP99 = "rtt-p99";
    public const string ConnectionRate = "connection-rate";
    public const string AgentCpu = "cpu-agent";
    public const string BrokerCpu = "cpu-broker";
    public const string PgbenchTps = "pgbench-tps";

    /// <summary><c>idle-rss-10000</c>: broker memory per tunnel with that many idle tunnels open.</summary>
    public static string IdleRss(int tunnels) => string.Create(CultureInfo.InvariantCulture, $"idle-rss-{tunnels}");
}
