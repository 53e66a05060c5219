using System.Net;
using System.Net.Sockets;
using GitHubActionsPort.Broker.Admin;
using GitHubActionsPort.Broker.Hosting;
using GitHubActionsPort.Broker.RawLane;
using GitHubActionsPort.Broker.Telemetry;

namespace GitHubActionsPort.Tests;

/// <summary>
/// Holds the broker's fixed default ports on 127.0.0.1 (8470, admin 8471, raw lane 8472, metrics 9471) for the whole
/// run, so a test that lets any listener fall back to one fails here and now, the way it would on a machine where a
/// broker with default ports runs beside the tests. A port already taken (by such a broker) is left to its owner: it
/// is held all the same. Nothing connects to these listeners; they are never accepted from.
/// </summary>
[SetUpFixture]
public sealed class DefaultPortsHeld
{
    private readonly List<Socket> _held = [];

    /// <summary>Every port a broker binds when its configuration names none.</summary>
    public static IReadOnlyList<int> Ports { get; } =
    [
        new Uri(BrokerHost.DefaultUrl).Port,
        new Uri(AdminSettings.DefaultUrl).Port,
        LaneSettings.DefaultRawPort,
        new Uri(MetricsSettings.DefaultUrl).Port,
    ];

    [OneTimeSetUp]
    public void Hold()
    {
        foreach (var port in Ports)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                socket.Bind(new IPEndPoint(IPAddress.Loopback, port));
                socket.Listen(1);
                _held.Add(socket);
                TestContext.Progress.WriteLine($"holding 127.0.0.1:{port}, a broker default port: no test may listen there");
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.AddressAlreadyInUse or SocketError.AccessDenied)
            {
                socket.Dispose();
                TestContext.Progress.WriteLine($"127.0.0.1:{port}, a broker default port, is already in use here: no test may listen there");
            }
        }
    }

    [OneTimeTearDown]
    public void Release()
    {
        foreach (var socket in _held)
        {
            socket.Dispose();
        }

        _held.Clear();
    }
}
