using System.Net;
using System.Net.Sockets;
using GitHubActionsPort.Agent.Cli;
using GitHubActionsPort.Broker.DevIssuer;
using GitHubActionsPort.Broker.Store;
using Microsoft.Extensions.DependencyInjection;

namespace GitHubActionsPort.Tests;

/// <summary>
/// The agent with several brokers, end to end on loopback: the session opens at the first that answers (a dead one
/// does not take the job's one id-token), a refusal in a broker's own right is final, and when the broker in use goes
/// away new connections go through the next, on both lanes, said once in the log. The second broker listens on
/// 127.0.0.2 (loopback on Linux and Windows), so it can take the raw-lane port the first one advertised, as instances
/// of one deployment do, and so one host name can stand for both.
/// </summary>
public sealed class BrokerFailoverTests
{
    /// <summary>The second test broker's address: loopback, but not the first one's.</summary>
    private static readonly IPAddress Second = IPAddress.Parse("127.0.0.2");

    /// <summary>How soon a local client must hear that no broker can carry its connection: loopback refuses a connect at once.</summary>
    private static readonly TimeSpan PromptClose = TimeSpan.FromSeconds(5);

    private DevIssuer _issuer = null!;
    private TcpTestServer _echo = null!;
    private Dictionary<string, string?> _configuration = null!;
    private readonly List<BrokerUnderTest> _brokers = [];
    private readonly List<string> _files = [];

    [SetUp]
    public async Task StartIssuerAndTargetAsync()
    {
        _issuer = await DevIssuer.StartAsync().DefaultTimeout();
        _echo = TcpTestServer.Echo();
        _configuration = BrokerUnderTest.DefaultConfiguration(_issuer.Issuer, new Dictionary<string, string> { ["echo"] = _echo.Address });
    }

    [TearDown]
    public async Task StopAllAsync()
    {
        foreach (var broker in _brokers)
        {
            await broker.DisposeAsync();
        }

        _brokers.Clear();
        await _echo.DisposeAsync();
        await _issuer.DisposeAsync();
        foreach (var file in _files)
        {
            if (Directory.Exists(file))
            {
                Directory.Delete(file, recursive: true);
            }
            else
            {
                File.Delete(file);
            }
        }

        _files.Clear();
    }

    [Test]
    public async Task DeadFirstBroker_SessionOpensAtTheSecond_OnTheOneTokenFromAFile()
    {
        var dead = new Uri($"http://127.0.0.1:{SocketIo.ReleasedLoopbackPort()}");
        var live = await StartBrokerAsync();

        await using var agent = await AgentUnderTest.StartAsync(
            dead, ["0:echo"], new Dictionary<string, string?>(), extraArgs: ["--broker", live.Address.ToString(), "--id-token-file", TokenFile()], echo: TestContext.Progress);

        using (var client = await SocketIo.ConnectAsync(agent["echo"]))
        {
            await AssertEchoesAsync(client, 1);
        }

        var movedOn = agent.Logs.Entries.Single(e => e.EventId.Name == "SessionOpenMovedOn");
        Assert.That(movedOn.Level, Is.EqualTo(LogLevel.Warning));
        Assert.That(movedOn.Message, Does.Contain(dead.GetLeftPart(UriPartial.Authority)).And.Contain(live.Address.GetLeftPart(UriPartial.Authority)));
        Assert.That(agent.Logs.Entries.Count(e => e.EventId.Name == "SessionOpenedAt"), Is.EqualTo(1));
        Assert.That(live.Logs.Entries.Count(e => e.EventId.Name == "SessionGranted"), Is.EqualTo(1), "the file's one token opened the session");
        Assert.That(agent.Logs.Errors, Is.Empty);
        Assert.That(live.Logs.Errors, Is.Empty);
    }

    [Test]
    public async Task FirstBrokerRejectsTheToken_TheRefusalIsFinal_AndTheNextIsNotAsked()
    {
        var refusing = await StartBrokerAsync(configure: c => c["Broker:Issuers:0:Audiences:0"] = "another-audience");
        var next = await StartBrokerAsync();

        await using var agent = AgentUnderTest.Run(
            refusing.Address, ["0:echo"], new Dictionary<string, string?>(), extraArgs: ["--broker", next.Address.ToString(), "--id-token-file", TokenFile()], echo: TestContext.Progress);

        Assert.That(await agent.Exit.DefaultTimeout(), Is.EqualTo(ExitCodes.TokenRejected), string.Join(Environment.NewLine, agent.Error.Lines));
        Assert.That(agent.Error.Lines, Has.Some.Contains("rejected the id-token"));
        Assert.That(next.Logs.Entries.Where(e => e.EventId.Name is "SessionGranted" or "TokenRejected"), Is.Empty, "a single-use token is not offered around");
        Assert.That(agent.Logs.Entries.Where(e => e.EventId.Name == "SessionOpenMovedOn"), Is.Empty);
    }

    [Test]
    public async Task HostNameWithTwoAddresses_FirstDead_SessionAndTunnelsGoThroughTheSecond()
    {
        RequireSecondLoopbackAddress();

        // The name's first address holds the port without listening (a connect is refused); the second is a broker.
        using var held = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        held.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var port = ((IPEndPoint)held.LocalEndPoint!).Port;
        var broker = await StartBrokerAsync(new Uri($"http://{Second}:{port}"));
        var resolved = new List<string>();

        await using var agent = await AgentUnderTest.StartAsync(
            new Uri($"http://brokers.test:{port}"), ["0:echo"], new Dictionary<string, string?>(), extraArgs: ["--id-token-file", TokenFile()], echo: TestContext.Progress,
            resolveHost: (host, _) =>
            {
                resolved.Add(host);
                return Task.FromResult<IPAddress[]>(host == "brokers.test" ? [IPAddress.Loopback, Second] : []);
            });

        using (var client = await SocketIo.ConnectAsync(agent["echo"]))
        {
            await AssertEchoesAsync(client, 2);
        }

        Assert.That(resolved, Has.Some.EqualTo("brokers.test"));
        var movedOn = agent.Logs.Entries.Single(e => e.EventId.Name == "SessionOpenMovedOn");
        Assert.That(movedOn.Message, Does.Contain("brokers.test").And.Contain("(127.0.0.1)").And.Contain("(127.0.0.2)"));
        Assert.That(broker.Logs.Entries.Count(e => e.EventId.Name == "SessionGranted"), Is.EqualTo(1));
        Assert.That(agent.Logs.Entries.Single(e => e.EventId.Name == "TunnelOpened").Message, Does.Contain("raw lane"),
            "the raw lane dials the same instance's address");
        Assert.That(agent.Logs.Errors, Is.Empty);
    }

    /// <summary>
    /// Over TLS, a name's second address is dialled by address while the certificate, which names only the host
    /// name, is checked against that name, on the gRPC channel and the raw lane alike.
    /// </summary>
    [TestCase("grpc")]
    [TestCase("raw")]
    public async Task HostNameOverTls_EachAddressIsDialled_TheCertificateIsCheckedByTheName(string lane)
    {
        RequireSecondLoopbackAddress();
        var folder = Directory.CreateTempSubdirectory("ghaport-failover-tls-").FullName;
        _files.Add(folder);
        using var ca = TestCertificates.CreateCa("failover test CA");
        var caPath = Path.Combine(folder, "ca.pem");
        await File.WriteAllTextAsync(caPath, ca.ExportCertificatePem());
        using (var certificate = TestCertificates.IssueServerCertificate(ca, "brokers.test"))
        {
            await TestCertificates.WritePemPairAsync(certificate, Path.Combine(folder, "broker.crt"), Path.Combine(folder, "broker.key"));
        }

        using var held = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        held.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var port = ((IPEndPoint)held.LocalEndPoint!).Port;
        var broker = await StartBrokerAsync(new Uri($"https://{Second}:{port}"), configure: c =>
        {
            c["Broker:Tls:CertificatePath"] = Path.Combine(folder, "broker.crt");
            c["Broker:Tls:KeyPath"] = Path.Combine(folder, "broker.key");
        });

        await using var agent = await AgentUnderTest.StartAsync(
            new Uri($"https://brokers.test:{port}"), ["0:echo"], new Dictionary<string, string?>(),
            extraArgs: ["--id-token-file", TokenFile(), "--ca-cert", caPath, "--lane", lane], echo: TestContext.Progress,
            resolveHost: (host, _) => Task.FromResult<IPAddress[]>(host == "brokers.test" ? [IPAddress.Loopback, Second] : []));

        using (var client = await SocketIo.ConnectAsync(agent["echo"]))
        {
            await AssertEchoesAsync(client, 4);
        }

        Assert.That(agent.Logs.Entries.Single(e => e.EventId.Name == "TunnelOpened").Message, Does.Contain($"({lane} lane)"));
        Assert.That(broker.Logs.Entries.Count(e => e.EventId.Name == "SessionGranted"), Is.EqualTo(1));
        Assert.That(agent.Logs.Errors, Is.Empty);
        Assert.That(broker.Logs.Errors, Is.Empty);
    }

    /// <summary>
    /// Without a store the brokers share, the next broker does not know the lease: the agent, which can get a fresh
    /// id-token here, opens a new session there, and the connection goes through.
    /// </summary>
    [TestCase("grpc")]
    [TestCase("raw")]
    public async Task BrokerStopped_NewConnectionsMoveToTheNext_WhichOpensANewSessionWithAFreshToken(string lane)
    {
        var (first, second) = await StartPairAsync(store: null);
        await using var agent = await AgentUnderTest.StartAsync(
            first.Address, ["0:echo"], AgentUnderTest.GitHubEnvironment(_issuer), extraArgs: ["--broker", second.Address.ToString(), "--lane", lane], echo: TestContext.Progress);
        var opened = await agent.Logs.WaitForAsync(e => e.EventId.Name == "SessionOpened").DefaultTimeout();
        using var live = await SocketIo.ConnectAsync(agent["echo"]);
        await AssertEchoesAsync(live, 1);

        await StopBrokerAsync(first);

        var (_, wasReset) = await live.ReadUntilClosedAsync().DefaultTimeout();
        Assert.That(wasReset, Is.True, "a connection carried by the lost broker ends with a reset");
        using (var next = await SocketIo.ConnectAsync(agent["echo"]))
        {
            await AssertEchoesAsync(next, 2);
        }

        var switched = agent.Logs.Entries.Where(e => e.EventId.Name == "BrokerSwitched").ToList();
        Assert.That(switched, Has.Count.EqualTo(1), "one move, however many calls found the broker gone");
        Assert.That(switched[0].Level, Is.EqualTo(LogLevel.Warning));
        Assert.That(switched[0].Message, Does.StartWith($"Broker {first.Address.GetLeftPart(UriPartial.Authority)} unreachable (")
            .And.Contain($"using broker {second.Address.GetLeftPart(UriPartial.Authority)} for lease {LeaseIdIn(opened.Message)}"));
        await agent.Logs.WaitForAsync(e => e.EventId.Name == "SessionReopened").DefaultTimeout();
        Assert.That(second.Logs.Entries.Count(e => e.EventId.Name == "SessionGranted"), Is.EqualTo(1));
        Assert.That(agent.Logs.Entries.Last(e => e.EventId.Name == "TunnelOpened").Message, Does.Contain($"({lane} lane)"));
        Assert.That(agent.Exit.IsCompleted, Is.False);
        Assert.That(agent.Logs.Errors, Is.Empty);
    }

    [Test]
    public async Task BrokerStopped_TokenFromFile_NextBrokerDoesNotKnowTheLease_ConnectionRefusedWithWhy()
    {
        var (first, second) = await StartPairAsync(store: null);
        await using var agent = await AgentUnderTest.StartAsync(
            first.Address, ["0:echo"], new Dictionary<string, string?>(), extraArgs: ["--broker", second.Address.ToString(), "--lane", "grpc", "--id-token-file", TokenFile()], echo: TestContext.Progress);

        await StopBrokerAsync(first);

        Assert.That(await SocketIo.ReceivedBeforeCloseAsync(agent["echo"]).WithTimeout(PromptClose), Is.Empty);
        var refused = await agent.Logs.WaitForAsync(e => e.EventId.Name == "TunnelRefused").DefaultTimeout();
        Assert.That(refused.Message, Does.Contain("no longer known to the broker").And.Contain("fresh id-token"));
        Assert.That(agent.Logs.Entries.Count(e => e.EventId.Name == "BrokerSwitched"), Is.EqualTo(1));
        Assert.That(second.Logs.Entries.Where(e => e.EventId.Name == "SessionGranted"), Is.Empty, "no second id-token was had, so no session was asked for");
    }

    [Test]
    public async Task EveryBrokerDown_ConnectionsAreClosedAtOnce_AndThatIsSaidOnce()
    {
        var (first, second) = await StartPairAsync(store: null);
        await using var agent = await AgentUnderTest.StartAsync(
            first.Address, ["0:echo"], AgentUnderTest.GitHubEnvironment(_issuer), extraArgs: ["--broker", second.Address.ToString(), "--lane", "grpc"], echo: TestContext.Progress);

        await StopBrokerAsync(first);
        await StopBrokerAsync(second);

        for (var i = 0; i < 4; i++)
        {
            Assert.That(await SocketIo.ReceivedBeforeCloseAsync(agent["echo"]).WithTimeout(PromptClose), Is.Empty);
        }

        await agent.Logs.WaitForAsync(e => e.EventId.Name == "TunnelRefused", occurrence: 4).DefaultTimeout();
        Assert.That(agent.Logs.Entries.Count(e => e.EventId.Name == "BrokersAllDown"), Is.EqualTo(1), "said once, not per connection");
        Assert.That(agent.Exit.IsCompleted, Is.False, "the agent waits for a broker to come back");
    }

    [Test]
    public async Task ManyConnectionsFindingTheBrokerGone_MakeOneMove_AndAllGoThrough()
    {
        var (first, second) = await StartPairAsync(store: null);
        await using var agent = await AgentUnderTest.StartAsync(
            first.Address, ["0:echo"], AgentUnderTest.GitHubEnvironment(_issuer), extraArgs: ["--broker", second.Address.ToString(), "--lane", "grpc"], echo: TestContext.Progress);
        await StopBrokerAsync(first);

        var clients = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => SocketIo.ConnectAsync(agent["echo"])));
        try
        {
            await Task.WhenAll(clients.Select((client, i) => AssertEchoesAsync(client, (byte)i)));
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }

        Assert.That(agent.Logs.Entries.Count(e => e.EventId.Name == "BrokerSwitched"), Is.EqualTo(1));
        Assert.That(agent.Logs.Entries.Count(e => e.EventId.Name == "SessionReopened"), Is.EqualTo(1));
        Assert.That(second.Logs.Entries.Count(e => e.EventId.Name == "SessionGranted"), Is.EqualTo(1));
    }

    /// <summary>
    /// Needs the shared lease store (issue 11, the leases work): the brokers share one store, so the lease granted by
    /// the first is good at the second; the agent, whose one id-token came from a file, carries on with it.
    /// </summary>
    [TestCase("grpc")]
    [TestCase("raw")]
    public async Task SharedStore_BrokerStopped_NewConnectionsGoThroughTheNext_OnTheSameLease_WithNoNewIdToken(string lane)
    {
        var store = new MemoryBrokerStore(TimeProvider.System);
        var (first, second) = await StartPairAsync(store);
        await using var agent = await AgentUnderTest.StartAsync(
            first.Address, ["0:echo"], new Dictionary<string, string?>(), extraArgs: ["--broker", second.Address.ToString(), "--lane", lane, "--id-token-file", TokenFile()], echo: TestContext.Progress);
        var opened = await agent.Logs.WaitForAsync(e => e.EventId.Name == "SessionOpened").DefaultTimeout();
        using var live = await SocketIo.ConnectAsync(agent["echo"]);
        await AssertEchoesAsync(live, 1);

        await StopBrokerAsync(first);

        var (_, wasReset) = await live.ReadUntilClosedAsync().DefaultTimeout();
        Assert.That(wasReset, Is.True, "a connection carried by the lost broker ends with a reset");
        using (var next = await SocketIo.ConnectAsync(agent["echo"]))
        {
            await AssertEchoesAsync(next, 2);
        }

        var leaseId = LeaseIdIn(opened.Message);
        var switched = agent.Logs.Entries.Single(e => e.EventId.Name == "BrokerSwitched");
        Assert.That(switched.Message, Does.Contain($"using broker {second.Address.GetLeftPart(UriPartial.Authority)} for lease {leaseId}"));
        Assert.That(agent.Logs.Entries.Where(e => e.EventId.Name is "LeaseLost" or "SessionReopened" or "SessionCannotReopen"), Is.Empty, "the same lease, no new session");
        Assert.That(second.Logs.Entries.Where(e => e.EventId.Name is "SessionGranted" or "TokenRejected"), Is.Empty, "no id-token reached the second broker");
        Assert.That(agent.Logs.Entries.Last(e => e.EventId.Name == "TunnelOpened").Message, Does.Contain($"({lane} lane)"));
        Assert.That(agent.Logs.Errors, Is.Empty);
    }

    /// <summary>
    /// Needs the shared lease store and the drain (issue 11): while the first broker drains, its tunnel in flight runs
    /// on, and new tunnels go to the second with the same lease.
    /// </summary>
    [TestCase("grpc")]
    [TestCase("raw")]
    public Task SharedStore_DrainingBroker_NewTunnelsGoToTheNext_TheOneInFlightRunsOn(string lane) =>
        DrainingBrokerAsync(lane, new MemoryBrokerStore(TimeProvider.System));

    /// <summary>
    /// Needs the drain (issue 11): without a shared store the next broker does not know the lease, and the agent, which
    /// can get a fresh id-token, opens a new session there.
    /// </summary>
    [TestCase("grpc")]
    [TestCase("raw")]
    public Task DrainingBroker_NewTunnelsGoToTheNext_WhichOpensANewSession(string lane) => DrainingBrokerAsync(lane, store: null);

    private async Task DrainingBrokerAsync(string lane, IBrokerStore? store)
    {
        var (first, second) = await StartPairAsync(store, c => c["Broker:Transport:DrainTimeout"] = "00:00:30");
        var environment = store is null ? AgentUnderTest.GitHubEnvironment(_issuer) : new Dictionary<string, string?>();
        List<string> args = ["--broker", second.Address.ToString(), "--lane", lane];
        if (store is not null)
        {
            args.AddRange(["--id-token-file", TokenFile()]);
        }

        await using var agent = await AgentUnderTest.StartAsync(first.Address, ["0:echo"], environment, extraArgs: args, echo: TestContext.Progress);
        using var inFlight = await SocketIo.ConnectAsync(agent["echo"]);
        await AssertEchoesAsync(inFlight, 1);

        // The stop drains: it waits for the tunnel in flight, refusing new ones meanwhile.
        _brokers.Remove(first);
        var stopping = first.DisposeAsync().AsTask();
        await first.Logs.WaitForAsync(e => e.EventId.Name == "DrainBegun").DefaultTimeout();

        using (var next = await SocketIo.ConnectAsync(agent["echo"]))
        {
            await AssertEchoesAsync(next, 2);
        }

        var switched = agent.Logs.Entries.Single(e => e.EventId.Name == "BrokerSwitched");
        Assert.That(switched.Message, Does.Contain("draining").And.Contain($"using broker {second.Address.GetLeftPart(UriPartial.Authority)}"));
        Assert.That(agent.Logs.Entries.Last(e => e.EventId.Name == "TunnelOpened").Message, Does.Contain($"({lane} lane)"));
        await AssertEchoesAsync(inFlight, 3);
        Assert.That(stopping.IsCompleted, Is.False, "the draining broker waits for its tunnel");
        var reopened = agent.Logs.Entries.Where(e => e.EventId.Name is "LeaseLost" or "SessionReopened");
        Assert.That(reopened, store is null ? Is.Not.Empty : Is.Empty, store is null ? "a new session at the next broker" : "the same lease, no new session");

        inFlight.Shutdown(SocketShutdown.Send);
        Assert.That(await inFlight.ReadToEndAsync().DefaultTimeout(), Is.Empty, "the tunnel in flight ends cleanly");
        await stopping.WithTimeout(TimeSpan.FromSeconds(20));
        Assert.That(agent.Logs.Errors, Is.Empty);
    }

    /// <summary>
    /// Two brokers with one configuration: the first at 127.0.0.1, the second at 127.0.0.2 with its raw lane on the
    /// port the first one's has (the instances of one deployment listen on the same ports), sharing
    /// <paramref name="store"/> when given.
    /// </summary>
    private async Task<(BrokerUnderTest First, BrokerUnderTest Second)> StartPairAsync(IBrokerStore? store, Action<Dictionary<string, string?>>? configure = null)
    {
        RequireSecondLoopbackAddress();
        Action<IServiceCollection>? shared = store is null ? null : s => s.AddSingleton(store);
        var first = await StartBrokerAsync(services: shared, configure: configure);
        var rawPort = first.RawLaneAddress!.Port;
        var second = await StartBrokerAsync(new Uri($"http://{Second}:0"), shared, c =>
        {
            configure?.Invoke(c);
            c["Broker:Lanes:Raw:Url"] = $"http://{Second}:{rawPort}";
        });
        return (first, second);
    }

    private async Task<BrokerUnderTest> StartBrokerAsync(Uri? at = null, Action<IServiceCollection>? services = null, Action<Dictionary<string, string?>>? configure = null)
    {
        var configuration = new Dictionary<string, string?>(_configuration);
        configure?.Invoke(configuration);
        var broker = await BrokerUnderTest.StartAsync(configuration, TestContext.Progress, at, services);
        _brokers.Add(broker);
        return broker;
    }

    private async Task StopBrokerAsync(BrokerUnderTest broker)
    {
        _brokers.Remove(broker);
        await broker.DisposeAsync().AsTask().WithTimeout(TimeSpan.FromSeconds(10));
    }

    private string TokenFile()
    {
        var file = Path.GetTempFileName();
        File.WriteAllText(file, _issuer.MintToken("ghaport"));
        _files.Add(file);
        return file;
    }

    /// <summary>127.0.0.2 is loopback on Linux and Windows; where it is not (macOS without an alias), these tests cannot run.</summary>
    private static void RequireSecondLoopbackAddress()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            probe.Bind(new IPEndPoint(Second, 0));
        }
        catch (SocketException ex)
        {
            Assert.Inconclusive($"{Second} is not a loopback address on this machine ({ex.Message})");
        }
    }

    private static async Task AssertEchoesAsync(Socket client, byte value)
    {
        await client.SendAllAsync(new[] { value });
        Assert.That(await client.ReadExactlyAsync(1).DefaultTimeout(), Is.EqualTo(new[] { value }));
    }

    private static string LeaseIdIn(string message) => message.Split(' ').First(w => w.StartsWith("lse_", StringComparison.Ordinal));
}
