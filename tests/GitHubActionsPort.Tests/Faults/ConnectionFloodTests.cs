using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using GitHubActionsPort.Protocol.V1;
using Grpc.Core;
using Grpc.Net.Client;
using BrokerClient = GitHubActionsPort.Protocol.V1.Broker.BrokerClient;

namespace GitHubActionsPort.Tests.Faults;

/// <summary>
/// The connection-holding attack rerun against a real broker with small limits: thousands of silent connections
/// (here hundreds, against a cap of <see cref="MaxConnections"/>) from many addresses, on every listener, while a real
/// agent opens sessions and tunnels bytes on both lanes and an administrator and a scraper are answered. Each part of
/// the defence has its test: the deadline to prove oneself, the per-source cap, eviction at the global cap, the
/// per-address allowance of rejected id-tokens, and side endpoints that idle sockets cannot fill.
/// </summary>
public sealed class ConnectionFloodTests() : FaultFixture("grpc")
{
    /// <summary>Connections at once across the gRPC port and the raw lane (Broker:Transport:MaxConnections).</summary>
    private const int MaxConnections = 64;

    /// <summary>Unproven connections per source (Broker:Transport:MaxUnprovenPerSource).</summary>
    private const int MaxUnprovenPerSource = 16;

    /// <summary>Rejected id-tokens one address may present in the (long) window.</summary>
    private const int MaxSessionFailures = 5;

    private readonly string _folder = Directory.CreateTempSubdirectory("ghaport-flood-").FullName;
    private string _adminToken = null!;

    protected override void Configure(Dictionary<string, string?> configuration)
    {
        base.Configure(configuration);
        configuration["Broker:Transport:MaxConnections"] = MaxConnections.ToString(System.Globalization.CultureInfo.InvariantCulture);
        configuration["Broker:Transport:MaxUnprovenPerSource"] = MaxUnprovenPerSource.ToString(System.Globalization.CultureInfo.InvariantCulture);
        configuration["Broker:Transport:ProveTimeout"] = "00:00:05";
        configuration["Broker:Transport:MaxSessionFailuresPerSource"] = MaxSessionFailures.ToString(System.Globalization.CultureInfo.InvariantCulture);
        configuration["Broker:Transport:SessionFailureWindow"] = "01:00:00";
        _adminToken = Convert.ToHexString(RandomNumberGenerator.GetBytes(32));
        var tokenFile = Path.Combine(_folder, "admin-token");
        File.WriteAllText(tokenFile, _adminToken + "\n");
        configuration["Broker:Admin:TokenFile"] = tokenFile;
    }

    [OneTimeTearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    [Test]
    public async Task SilentConnections_OnEveryListener_AreClosedOnceTheirDeadlinePasses()
    {
        using var silent = new SilentSockets();
        var source = SilentSockets.Source(11);
        var held = new List<Socket>();
        foreach (var listener in new[] { Broker.Address, Broker.RawLaneAddress!, Broker.AdminAddress!, Broker.MetricsAddress! })
        {
            held.AddRange(await silent.OpenAsync(listener, source, 2));
        }

        // Kestrel's own keep-alive (two minutes) used to hold an h2c connection that never sent its preface, and a
        // side server's connection that never sent a request, far past this bound.
        foreach (var socket in held)
        {
            await socket.ReadUntilClosedAsync().DefaultTimeout();
        }

        Assert.That(Broker.Logs.Entries.Count(e => e.EventId.Name == "ConnectionProveTimedOut" && e.Message.StartsWith("broker:", StringComparison.Ordinal)), Is.GreaterThanOrEqualTo(4));
        Assert.That(Broker.Logs.Entries.Where(e => e.EventId.Name == "ConnectionProveTimedOut").Select(e => e.Message.Split(':')[0]).Distinct(), Is.SupersetOf((string[])["broker", "admin", "metrics"]));
    }

    [Test]
    public async Task PerSourceCap_TheNextUnprovenConnection_ClosesThatSourcesOldest()
    {
        using var silent = new SilentSockets();
        // The cap bites once the broker is half full: two other addresses bring it there.
        var bystanders = new List<Socket>();
        for (var source = 14; source < 14 + (MaxConnections / 2 / MaxUnprovenPerSource); source++)
        {
            bystanders.AddRange(await silent.OpenAsync(Broker.Address, SilentSockets.Source(source), MaxUnprovenPerSource));
        }

        var crowded = SilentSockets.Source(12);
        var first = await silent.OpenAsync(Broker.Address, crowded, MaxUnprovenPerSource);
        Assert.That(first, Has.Count.EqualTo(MaxUnprovenPerSource));

        // One more than the cap from the same address: the broker makes room by closing that address's oldest.
        await silent.OpenAsync(Broker.Address, crowded, 1);

        await first[0].ReadUntilClosedAsync().DefaultTimeout();
        var evicted = await Broker.Logs.WaitForAsync(e => e.EventId.Name == "ConnectionEvicted" && e.Message.Contains(crowded.ToString(), StringComparison.Ordinal)).DefaultTimeout();
        Assert.That(evicted.Message, Does.Contain("Broker:Transport:MaxUnprovenPerSource"));
        Assert.That(Broker.Logs.Entries.Where(e => e.EventId.Name == "ConnectionEvicted").Select(e => e.Message), Has.None.Contains("127.0.0.14").And.None.Contains("127.0.0.15"), "another address's connections are not touched");
    }

    [Test]
    public async Task ConnectionFlood_FromManyAddresses_AgentsAreStillServed_AndAdminAndMetricsStillAnswer()
    {
        using var silent = new SilentSockets();
        using var stop = new CancellationTokenSource();
        // The attack: more silent connections than the broker's whole cap, from eight addresses, on both job-facing
        // listeners and on each side endpoint, then a steady trickle of new ones while the agents start.
        var firstWave = new List<Socket>();
        for (var source = 2; source < 10; source++)
        {
            firstWave.AddRange(await silent.OpenAsync(Broker.Address, SilentSockets.Source(source), MaxUnprovenPerSource));
            firstWave.AddRange(await silent.OpenAsync(Broker.RawLaneAddress!, SilentSockets.Source(source), MaxUnprovenPerSource / 2));
        }

        await silent.OpenAsync(Broker.AdminAddress!, SilentSockets.Source(2), 48);
        await silent.OpenAsync(Broker.MetricsAddress!, SilentSockets.Source(3), 48);
        var trickle = Task.Run(() => TrickleAsync(stop.Token));

        try
        {
            // A legitimate agent on each lane opens its session and tunnels bytes through the flood.
            await using (var grpcAgent = await StartFaultAgentAsync("echo"))
            await using (var rawAgent = await FaultAgent.StartAsync("raw", Broker.Address, ["echo"], AgentUnderTest.GitHubEnvironment(Issuer)))
            {
                await AssertEchoesAsync(grpcAgent);
                await AssertEchoesAsync(rawAgent);

                // The administrator lists the sessions; the scraper gets its metrics.
                using var http = new HttpClient { Timeout = TaskTimeouts.Default };
                using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(Broker.AdminAddress!, "admin/sessions"));
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _adminToken);
                using var sessions = await http.SendAsync(request).DefaultTimeout();
                Assert.That(sessions.StatusCode, Is.EqualTo(HttpStatusCode.OK));
                Assert.That(await sessions.Content.ReadAsStringAsync(), Does.Contain("lse_"));

                var metrics = await http.GetStringAsync(new Uri(Broker.MetricsAddress!, "metrics")).DefaultTimeout();
                Assert.That(metrics, Does.Contain("ghaport_connections_shed").And.Contain("evicted_full"));
            }
        }
        finally
        {
            await stop.CancelAsync();
            await trickle.DefaultTimeout();
        }

        // Every connection of the first wave is gone: evicted to make room, or closed at its deadline.
        foreach (var socket in firstWave)
        {
            await socket.ReadUntilClosedAsync().DefaultTimeout();
        }

        async Task TrickleAsync(CancellationToken cancellationToken)
        {
            using var more = new SilentSockets();
            for (var i = 0; i < 2_000 && !cancellationToken.IsCancellationRequested; i++)
            {
                var source = SilentSockets.Source(2 + (i % 8));
                await more.OpenAsync(i % 2 == 0 ? Broker.Address : Broker.RawLaneAddress!, source, 1);
                await Task.Delay(5, CancellationToken.None);
            }
        }
    }

    [Test]
    public async Task RawLaneFlood_MoreSilentConnectionsThanTheCap_AnAgentOnTheRawLaneIsStillServed()
    {
        using var silent = new SilentSockets();
        for (var source = 20; source < 20 + ((2 * MaxConnections / MaxUnprovenPerSource) + 1); source++)
        {
            await silent.OpenAsync(Broker.RawLaneAddress!, SilentSockets.Source(source), MaxUnprovenPerSource);
        }

        await using var agent = await FaultAgent.StartAsync("raw", Broker.Address, ["echo"], AgentUnderTest.GitHubEnvironment(Issuer));
        await AssertEchoesAsync(agent);
        await AssertEchoesAsync(agent);
    }

    [Test]
    public async Task IdleSocketsOnTheSideEndpoints_TheAdministratorAndTheScraperAreStillAnswered()
    {
        using var silent = new SilentSockets();
        // More than either endpoint's whole cap, from the very address its users come from.
        await silent.OpenAsync(Broker.AdminAddress!, IPAddress.Loopback, 48);
        await silent.OpenAsync(Broker.MetricsAddress!, IPAddress.Loopback, 48);

        using var http = new HttpClient { Timeout = TaskTimeouts.Default };
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(Broker.AdminAddress!, "admin/sessions"));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _adminToken);
        using var sessions = await http.SendAsync(request).DefaultTimeout();
        Assert.That(sessions.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await http.GetStringAsync(new Uri(Broker.MetricsAddress!, "metrics")).DefaultTimeout(), Does.Contain("ghaport_connections_shed"));
    }

    [Test]
    public async Task RejectedTokenFlood_FromOneAddress_IsRefusedUnread_WhileAnotherAddressIsServed()
    {
        using var handler = new SocketsHttpHandler { ConnectCallback = ConnectFrom(SilentSockets.Source(13)) };
        using var channel = GrpcChannel.ForAddress(Broker.Address, new GrpcChannelOptions { HttpHandler = handler });
        var client = new BrokerClient(channel);
        using var sessionKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var rejectedBefore = Broker.Logs.Entries.Count(e => e.EventId.Name == "TokenRejected");

        // All at once: the allowance is taken before a token is read, so a burst cannot overrun it either.
        var calls = Enumerable.Range(0, 4 * MaxSessionFailures).Select(_ => OpenSessionStatusAsync(client, sessionKey, "not.a.token")).ToList();
        var statuses = await Task.WhenAll(calls).DefaultTimeout();

        Assert.That(statuses.Count(s => s.StatusCode == StatusCode.Unauthenticated), Is.EqualTo(MaxSessionFailures));
        var limited = statuses.Where(s => s.StatusCode == StatusCode.ResourceExhausted).ToList();
        Assert.That(limited, Has.Count.EqualTo(3 * MaxSessionFailures));
        Assert.That(limited[0].Detail, Does.Contain("too many rejected id-tokens from this address; retry after"));
        Assert.That(Broker.Logs.Entries.Count(e => e.EventId.Name == "TokenRejected") - rejectedBefore, Is.EqualTo(MaxSessionFailures), "a refused call's token is never checked");

        // Another address (the agent's, 127.0.0.1) is untouched.
        await using var agent = await StartFaultAgentAsync("echo");
        await AssertEchoesAsync(agent);
    }

    private static async Task<Status> OpenSessionStatusAsync(BrokerClient client, ECDsa sessionKey, string token)
    {
        var request = new OpenSessionRequest
        {
            IdToken = token,
            Targets = { "echo" },
            SessionPublicKey = Google.Protobuf.ByteString.CopyFrom(sessionKey.ExportSubjectPublicKeyInfo()),
        };
        try
        {
            await client.OpenSessionAsync(request, deadline: DateTime.UtcNow + TaskTimeouts.Default);
            return Status.DefaultSuccess;
        }
        catch (RpcException ex)
        {
            return ex.Status;
        }
    }

    /// <summary>An HTTP connect callback whose connections leave from <paramref name="source"/>.</summary>
    private static Func<SocketsHttpConnectionContext, CancellationToken, ValueTask<Stream>> ConnectFrom(IPAddress source) =>
        async (context, cancellationToken) =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                socket.Bind(new IPEndPoint(source, 0));
                await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        };

    private static async Task AssertEchoesAsync(AgentUnderTest agent)
    {
        using var client = await SocketIo.ConnectAsync(agent["echo"]);
        var data = SocketIo.RandomBytes(64 * 1024);
        await client.SendAllAsync(data);
        client.Shutdown(SocketShutdown.Send);
        Assert.That(await client.ReadToEndAsync().DefaultTimeout(), Is.EqualTo(data));
    }
}
