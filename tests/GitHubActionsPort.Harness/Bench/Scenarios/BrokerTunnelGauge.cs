using System.Globalization;

namespace GitHubActionsPort.Harness.Bench.Scenarios;

/// <summary>
/// The broker's count of tunnels still spliced, from its <c>/metrics</c> page (the <c>ghaport.tunnel.active</c>
/// gauge), so the bench can start the idle-tunnel scenario from an empty broker and leave one behind.
/// </summary>
internal static class BrokerTunnelGauge
{
    private const string Metric = "ghaport_tunnel_active";

    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };

    /// <summary>Tunnels open at the broker; null when its page does not say.</summary>
    public static async Task<long?> ActiveAsync(Uri metrics, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        var text = await Http.GetStringAsync(metrics, cancellationToken);
        long? total = null;
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith(Metric, StringComparison.Ordinal) && double.TryParse(line[(line.LastIndexOf(' ') + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                total = (total ?? 0) + (long)value;
            }
        }

        return total;
    }

    /// <summary>
    /// Waits until the broker has no tunnel open (those of the scenarios before still closing would count against
    /// the lease's 10,000), polling its page; false when it did not happen within <paramref name="timeout"/>.
    /// </summary>
    public static async Task<bool> WaitForNoneAsync(Uri metrics, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var active = await ActiveAsync(metrics, cancellationToken);
            if (active is null or 0)
            {
                return true;
            }

            if (DateTime.UtcNow >= deadline)
            {
                return false;
            }

            await Task.Delay(50, cancellationToken);
        }
    }
}
