using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.Versioning;
using GitHubActionsPort.Agent.Forwarding;

namespace GitHubActionsPort.Harness.Bench.Scenarios;

/// <summary>
/// What the agent's local-user check adds to each accepted loopback connection on Linux: the kernel lookup of the
/// client socket's owner (sock_diag netlink, and the /proc/net fallback), timed over many lookups of one
/// established connection, against a loopback connect, accept and close of the same machine as the baseline.
/// The connection-rate scenario pays it too, as part of every ghaport route's accept.
/// </summary>
[SupportedOSPlatform("linux")]
internal static class PeerCheckScenario
{
    private const int Connections = 2_000;
    private const int Lookups = 20_000;
    private const int ProcNetLookups = 200;

    public static async Task<string> MeasureAsync(CancellationToken stopping)
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(512);

        // Baseline: what one accepted connection costs anyway, connect to close.
        var started = Stopwatch.GetTimestamp();
        for (var i = 0; i < Connections; i++)
        {
            using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await client.ConnectAsync(listener.LocalEndPoint!, stopping);
            using var accepted = await listener.AcceptAsync(stopping);
        }

        var perConnection = Stopwatch.GetElapsedTime(started).TotalMicroseconds / Connections;

        using var held = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await held.ConnectAsync(listener.LocalEndPoint!, stopping);
        using var server = await listener.AcceptAsync(stopping);
        var peer = (IPEndPoint)server.RemoteEndPoint!;
        var local = (IPEndPoint)server.LocalEndPoint!;
        var netlink = Time(Lookups, () => LocalPeerOwner.FindByNetlink(peer, local, out _));
        var procNet = Time(ProcNetLookups, () => LocalPeerOwner.FindInProcNet(peer, local));
        return string.Create(CultureInfo.InvariantCulture,
            $"local-user check per accept: {netlink:0.0} us by sock_diag netlink ({netlink / perConnection:P1} of a loopback connect+accept+close, {perConnection:0.0} us); the /proc/net fallback {procNet:0.0} us");
    }

    private static double Time(int count, Func<uint?> lookup)
    {
        if (lookup() is null)
        {
            throw new InvalidOperationException("the owner of an established loopback connection was not found");
        }

        var started = Stopwatch.GetTimestamp();
        for (var i = 0; i < count; i++)
        {
            lookup();
        }

        return Stopwatch.GetElapsedTime(started).TotalMicroseconds / count;
    }
}
