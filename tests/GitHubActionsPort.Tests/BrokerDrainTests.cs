using System.Net;
using System.Net.Sockets;
using System.Reflection;
using System.Text.RegularExpressions;
using GitHubActionsPort.Broker.Configuration;
using GitHubActionsPort.Broker.DevIssuer;
using GitHubActionsPort.Broker.Draining;
using GitHubActionsPort.Broker.Hosting;
using GitHubActionsPort.Broker.Store;
using GitHubActionsPort.Protocol;
using GitHubActionsPort.Protocol.RawLane;
using GitHubActionsPort.Protocol.V1;
using GitHubActionsPort.Tests.Faults;
using GitHubActionsPort.Tests.RawLane;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using BrokerClient = GitHubActionsPort.Protocol.V1.Broker.BrokerClient;

namespace GitHubActionsPort.Tests;

/// <summary>
/// A broker told to stop (SIGTERM to a real broker process, or the host's own stop) drains: from that moment it
/// refuses new sessions, new tunnels on both lanes and watches with the draining status an agent takes as "go to
/// another instance", says so on <c>/healthz</c> and gRPC health, and answers renewals; the tunnels already open
/// carry their bytes until they finish, or until <c>Broker:Transport:DrainTimeout</c> ends them with "the broker is
/// stopping"; the process then exits 0, and the store heard the instance was draining, then gone.
/// </summary>
public sealed partial class BrokerDrainTests
{
    /// <summary>Long enough that only the test's own clients end the drain: the tests wait for events, never for it.</summary>
    private const string LongDrain = "10m";

    private DevIssuer _issuer = null!;
    private TcpTestServer _echo = null!;

    [GeneratedRegex(@"Metrics and health on (?<address>http://\S+?/)metrics")]
    private static partial Regex MetricsLine();

    [SetUp]
    public async Task StartIssuerAndTargetAsync()
    {
        _issuer = await DevIssuer.StartAsync().DefaultTimeout();
        _echo = TcpTestServer.Echo();
    }

    [TearDown]
    public async Task StopIssuerAndTargetAsync()
    {
        await _echo.DisposeAsync();
        await _issuer.DisposeAsync();
    }

    [TestCase("grpc")]
    [TestCase("raw")]
    public async Task Sigterm_TunnelThroughTheAgent_KeepsEchoingWhileDraining_AndEndsCleanly_ThenTheBrokerExitsZero(string lane)
    {
        SkipOnWindows();
        await using var broker = await ProcessBroker.StartAsync(Configuration(LongDrain));
        await using var agent = await AgentUnderTest.StartAsync(
            broker.Address, ["0:echo"], AgentUnderTest.GitHubEnvironment(_issuer), extraArgs: ["--lane", lane], echo: TestContext.Progress);
        using var client = await SocketIo.ConnectAsync(agent["echo"]);
        await AssertEchoesAsync(client, 1);

        await broker.Child.SignalTerminateAsync();
        await DrainBegunAsync(broker);

        await AssertEchoesAsync(client, 2);
        await AssertEchoesAsync(client, 3);
        client.Shutdown(SocketShutdown.Send);
        var (rest, wasReset) = await client.ReadUntilClosedAsync().DefaultTimeout();

        Assert.That(wasReset, Is.False, "a tunnel the client ended during the drain ends cleanly, not with a reset");
        Assert.That(rest, Is.Empty);
        Assert.That(await broker.Child.WaitForExitAsync(), Is.Zero, broker.Describe());
        Assert.That(broker.Child.Output.Lines, Has.Some.Contains("Drained: 1 tunnels finished, none was cut"), broker.Describe());
    }

    [Test]
    public async Task Sigterm_WhileDraining_NewSessionsTunnelsAndWatchesAreSentElsewhere_RenewalsAreAnswered_AndHealthSaysDraining()
    {
        SkipOnWindows();
        await using var broker = await ProcessBroker.StartAsync(Configuration(LongDrain));
        var metrics = await MetricsAddressAsync(broker);
        using var channel = GrpcChannel.ForAddress(broker.Address);
        var client = new BrokerClient(channel);
        using var session = await RawSession.OpenAsync(client, _issuer.MintToken("ghaport"), ["echo"]);
        // Open across the drain: one tunnel on each lane, a raw-lane connection accepted and waiting for its Open, a watch.
        using var grpcTunnel = await OpenGrpcTunnelAsync(session);
        using var rawTunnel = await OpenRawTunnelAsync(broker.RawLaneAddress, session);
        using var warm = await HelloAsync(broker.RawLaneAddress, session);
        Assert.That(warm.Reply.IsAccepted, Is.True, warm.Reply.Detail);
        using var watch = client.WatchSession(session.Headers("WatchSession", string.Empty));
        await watch.RequestStream.CompleteAsync();

        await broker.Child.SignalTerminateAsync();
        await DrainBegunAsync(broker);

        // The watch is answered (or, if it reached the broker only now, refused) with the drain, not left hanging.
        var watched = Assert.ThrowsAsync<RpcException>(async () => await watch.ResponseAsync.DefaultTimeout());
        AssertDraining(watched!.Status);
        Assert.That(watched.Trailers.GetValue(BrokerDraining.Trailer), Is.EqualTo("1"));

        // A new tunnel on each lane, at a new connection's Hello and at a warm connection's Open.
        var (_, grpcRefusal) = await session.TunnelAsync(session.Headers("Tunnel", "echo"));
        Assert.That(grpcRefusal, Is.Not.Null, "a new gRPC tunnel is refused while draining");
        AssertDraining(grpcRefusal!.Status);
        Assert.That(grpcRefusal.Trailers.GetValue(BrokerDraining.Trailer), Is.EqualTo("1"));
        using var late = await HelloAsync(broker.RawLaneAddress, session);
        AssertDraining(new Status(late.Reply.Status, late.Reply.Detail));
        await warm.Peer.SendAsync(new RawLaneOpen("echo"));
        var atOpen = (RawLaneReply)await warm.Peer.ReceiveAsync();
        AssertDraining(new Status(atOpen.Status, atOpen.Detail));

        // A new session, too; a renewal is answered, so an agent keeps its lease while its tunnels here finish.
        var sessionRefusal = Assert.ThrowsAsync<RpcException>(() => RawSession.OpenAsync(client, _issuer.MintToken("ghaport"), ["echo"]));
        AssertDraining(sessionRefusal!.Status);
        Assert.That(sessionRefusal.Trailers.GetValue(BrokerDraining.Trailer), Is.EqualTo("1"));
        var renewed = await session.RenewAsync(_issuer.MintToken("ghaport"));
        Assert.That(renewed.LeaseId, Is.EqualTo(session.Lease.LeaseId));

        // A balancer asking either health sends new connections elsewhere.
        using (var http = new HttpClient())
        {
            using var health = await http.GetAsync(new Uri(metrics, "/healthz")).DefaultTimeout();
            Assert.That(health.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
            Assert.That(await health.Content.ReadAsStringAsync(), Is.EqualTo("draining\n"));
            Assert.That(await http.GetStringAsync(new Uri(metrics, "/metrics")).DefaultTimeout(), Does.Match(@"(?m)^(\w+_)?ghaport_draining(\{[^}]*\})? 1$"));
        }

        var grpcHealth = await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest()).ResponseAsync.DefaultTimeout();
        Assert.That(grpcHealth.Status, Is.EqualTo(HealthCheckResponse.Types.ServingStatus.NotServing));

        // The open tunnels carried bytes all along, and end cleanly when their clients end them.
        await AssertEchoesAsync(grpcTunnel, 7);
        await AssertEchoesAsync(rawTunnel, 8);
        Assert.That(broker.Child.HasExited, Is.False, "the open tunnels hold the drain");
        await TunnelCalls.EndAsync(grpcTunnel);
        rawTunnel.Socket.Shutdown(SocketShutdown.Send);
        var (rest, wasReset) = await rawTunnel.ReadUntilClosedAsync();
        Assert.That(wasReset, Is.False, "the raw-lane tunnel ends cleanly");
        Assert.That(rest, Is.Empty);

        Assert.That(await broker.Child.WaitForExitAsync(), Is.Zero, broker.Describe());
        Assert.That(broker.Child.Output.Lines, Has.Some.Contains("Drained: 2 tunnels finished, none was cut"), broker.Describe());
    }

    [Test]
    public async Task Sigterm_TunnelsStillOpenAtTheDrainTimeout_EndWithTheBrokerIsStopping_AndTheBrokerExitsZero()
    {
        SkipOnWindows();
        // Short: nobody ends these tunnels, so the timeout does.
        await using var broker = await ProcessBroker.StartAsync(Configuration("2s"));
        using var channel = GrpcChannel.ForAddress(broker.Address);
        using var session = await RawSession.OpenAsync(new BrokerClient(channel), _issuer.MintToken("ghaport"), ["echo"]);
        using var grpcTunnel = await OpenGrpcTunnelAsync(session);
        using var rawTunnel = await OpenRawTunnelAsync(broker.RawLaneAddress, session);

        await broker.Child.SignalTerminateAsync();

        var ended = Assert.ThrowsAsync<RpcException>(async () => await grpcTunnel.ResponseStream.MoveNext().DefaultTimeout());
        Assert.That(ended!.StatusCode, Is.EqualTo(StatusCode.Unavailable));
        Assert.That(ended.Status.Detail, Is.EqualTo("the broker is stopping"));
        var (_, wasReset) = await rawTunnel.ReadUntilClosedAsync();
        Assert.That(wasReset, Is.True, "a raw-lane tunnel cut at the drain timeout ends with a reset, not a clean end");
        Assert.That(await broker.Child.WaitForExitAsync(), Is.Zero, broker.Describe());
        Assert.That(broker.Child.Output.Lines, Has.Some.Contains("Drain timeout passed: 0 tunnels finished, 2 still open are ended"), broker.Describe());
    }

    [Test]
    public async Task HostStop_RecordsTheInstanceDrainingThenGone_InTheStore()
    {
        var store = new MemoryBrokerStore(TimeProvider.System);
        var broker = await BrokerUnderTest.StartAsync(Configuration(LongDrain), TestContext.Progress, services: s => s.AddSingleton<IBrokerStore>(store));
        var stopped = false;
        try
        {
            var instance = broker.Services.GetRequiredService<BrokerInstance>();
            // The store knows the instance from its heartbeats; this test sends the first itself.
            await store.HeartbeatAsync(new InstanceRecord(instance.Id, broker.Address.ToString(), instance.StartedAt, DateTimeOffset.UtcNow, InstanceState.Live), CancellationToken.None);
            using var channel = GrpcChannel.ForAddress(broker.Address);
            using var session = await RawSession.OpenAsync(new BrokerClient(channel), _issuer.MintToken("ghaport"), ["echo"]);
            using var tunnel = await OpenGrpcTunnelAsync(session);

            var stopping = broker.DisposeAsync().AsTask();
            stopped = true;
            await broker.Logs.WaitForAsync(e => e.EventId.Name == "InstanceStateRecorded" && e.Message.Contains(nameof(InstanceState.Draining), StringComparison.Ordinal)).DefaultTimeout();
            Assert.That(await StateAsync(store, instance.Id), Is.EqualTo(InstanceState.Draining));
            Assert.That(stopping.IsCompleted, Is.False, "the open tunnel holds the stop");
            // A probe while draining (the gRPC health service runs the check on its own schedule too) answers
            // Unhealthy without logging an error: draining is what the broker was asked to do.
            var health = await broker.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
            Assert.That(health.Status, Is.EqualTo(HealthStatus.Unhealthy));

            await AssertEchoesAsync(tunnel, 5);
            await TunnelCalls.EndAsync(tunnel);
            await stopping.DefaultTimeout();

            Assert.That(await StateAsync(store, instance.Id), Is.EqualTo(InstanceState.Gone));
            Assert.That(broker.Logs.Entries.Select(e => e.EventId.Name), Does.Contain("DrainFinished").And.Not.Contain("DrainTimedOut"));
            Assert.That(broker.Logs.Errors, Is.Empty);
        }
        finally
        {
            if (!stopped)
            {
                await broker.DisposeAsync();
            }
        }
    }

    [Test]
    public async Task HostStop_WithAStoreThatNeverAnswers_StillStops_AndSaysTheStateWasNotRecorded()
    {
        var store = DispatchProxy.Create<IBrokerStore, SilentInstanceStore>();
        var broker = await BrokerUnderTest.StartAsync(Configuration(LongDrain), TestContext.Progress, services: s => s.AddSingleton(store));

        // Each write is bounded (5 s), so the stop ends well within the test's wait.
        await broker.DisposeAsync().AsTask().DefaultTimeout();

        var notRecorded = broker.Logs.Entries.Where(e => e.EventId.Name == "InstanceStateNotRecorded").Select(e => e.Message).ToList();
        Assert.That(notRecorded, Has.Count.EqualTo(2));
        Assert.That(notRecorded, Has.Some.Contains(nameof(InstanceState.Draining)).And.Some.Contains(nameof(InstanceState.Gone)));
        Assert.That(notRecorded, Has.All.Contains("no answer within 5 s"));
    }

    [Test]
    public async Task StopApplication_BeginsTheDrainAtOnce_AndANewTunnelIsRefused()
    {
        await using var broker = await BrokerUnderTest.StartAsync(Configuration(LongDrain), TestContext.Progress);
        using var channel = GrpcChannel.ForAddress(broker.Address);
        using var session = await RawSession.OpenAsync(new BrokerClient(channel), _issuer.MintToken("ghaport"), ["echo"]);

        // The stopping token alone (as a signal fires it, before the host's stop begins) starts the drain.
        broker.Services.GetRequiredService<IHostApplicationLifetime>().StopApplication();
        await broker.Logs.WaitForAsync(e => e.EventId.Name == "DrainBegun").DefaultTimeout();

        Assert.That(broker.Services.GetRequiredService<BrokerDrain>().IsDraining, Is.True);
        var (_, refusal) = await session.TunnelAsync(session.Headers("Tunnel", "echo"));
        AssertDraining(refusal!.Status);
    }

    [Test]
    public void DrainTimeout_IsThirtySecondsUnlessSet_ZeroMeansNone_AndTheHostsShutdownTimeoutLeavesItRoom()
    {
        Assert.That(ReadDrainTimeout(null), Is.EqualTo(TimeSpan.FromSeconds(30)));
        Assert.That(ReadDrainTimeout("0"), Is.EqualTo(TimeSpan.Zero));
        Assert.That(ReadDrainTimeout("0s"), Is.EqualTo(TimeSpan.Zero));
        Assert.That(ReadDrainTimeout("00:02:00"), Is.EqualTo(TimeSpan.FromMinutes(2)));

        var configuration = Configuration("5m");
        configuration["Broker:Admin:Url"] = "http://127.0.0.1:0";
        configuration["Broker:Metrics:Url"] = "http://127.0.0.1:0";
        configuration["Broker:Audit:Path"] = BrokerUnderTest.TempAuditPath();
        var app = BrokerHost.Build(["--urls", "http://127.0.0.1:0"], overrides: configuration);
        try
        {
            // The host would cut its stop, drain included, at 30 s by default.
            Assert.That(app.Services.GetRequiredService<IOptions<HostOptions>>().Value.ShutdownTimeout, Is.GreaterThan(TimeSpan.FromMinutes(5)));
        }
        finally
        {
            ((IDisposable)app).Dispose();
        }
    }

    private Dictionary<string, string?> Configuration(string drainTimeout)
    {
        var configuration = BrokerUnderTest.DefaultConfiguration(_issuer.Issuer, new Dictionary<string, string> { ["echo"] = _echo.Address });
        configuration["Broker:Transport:DrainTimeout"] = drainTimeout;
        return configuration;
    }

    private static TimeSpan ReadDrainTimeout(string? value)
    {
        var configuration = new Dictionary<string, string?>
        {
            ["Broker:Issuers:0:Issuer"] = "https://token.actions.githubusercontent.com",
            ["Broker:Issuers:0:Audiences:0"] = "ghaport",
            ["Broker:Transport:DrainTimeout"] = value,
        };
        return BrokerSettingsReader.Read(new ConfigurationBuilder().AddInMemoryCollection(configuration).Build()).Transport.DrainTimeout;
    }

    private static void SkipOnWindows()
    {
        if (OperatingSystem.IsWindows())
        {
            Assert.Ignore("SIGTERM cannot be sent to another console process on Windows; the host's own stop is tested in-process.");
        }
    }

    private static async Task DrainBegunAsync(ProcessBroker broker) =>
        await broker.Child.WaitForOutputAsync(l => l.Contains("Draining: the broker is stopping", StringComparison.Ordinal));

    private static async Task<Uri> MetricsAddressAsync(ProcessBroker broker)
    {
        var line = await broker.Child.WaitForOutputAsync(l => MetricsLine().IsMatch(l));
        return new Uri(MetricsLine().Match(line).Groups["address"].Value);
    }

    private static void AssertDraining(Status status)
    {
        Assert.That(status.StatusCode, Is.EqualTo(StatusCode.Unavailable), status.ToString());
        Assert.That(status.Detail, Does.StartWith("the broker is draining"));
        Assert.That(BrokerDraining.IsDraining(status), Is.True);
    }

    private static async Task<InstanceState> StateAsync(MemoryBrokerStore store, string instanceId) =>
        (await store.InstancesAsync(CancellationToken.None)).Single(i => i.Id == instanceId).State;

    private static async Task<AsyncDuplexStreamingCall<TunnelFrame, TunnelFrame>> OpenGrpcTunnelAsync(RawSession session)
    {
        var (call, refusal) = await session.TunnelAsync(session.Headers("Tunnel", "echo"));
        Assert.That(refusal, Is.Null, refusal?.Status.ToString());
        return call;
    }

    /// <summary>
    /// A memory store whose instance-state writes never complete and ignore their token, as a store that cannot be
    /// reached and a client that does not time out would behave; everything else it does as the memory store.
    /// </summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1852", Justification = "DispatchProxy.Create derives the proxy from it.")]
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "The memory store holds nothing to free.")]
    internal class SilentInstanceStore : DispatchProxy
    {
        private readonly MemoryBrokerStore _inner = new(TimeProvider.System);

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
        {
            ArgumentNullException.ThrowIfNull(targetMethod);
            return targetMethod.Name == nameof(IBrokerStore.SetInstanceStateAsync)
                ? new TaskCompletionSource().Task
                : targetMethod.Invoke(_inner, args);
        }
    }

    /// <summary>A raw-lane connection that has sent its Hello, with the broker's answer.</summary>
    private sealed record Hello(RawLanePeer Peer, RawLaneReply Reply) : IDisposable
    {
        public void Dispose() => Peer.Dispose();
    }

    private static async Task<Hello> HelloAsync(Uri? rawLane, RawSession session)
    {
        var peer = await RawLanePeer.ConnectAsync(rawLane ?? throw new InvalidOperationException("The broker's raw lane is off."));
        try
        {
            await peer.SendAsync(new RawLaneHello(session.Lease.Token, LeaseProof.Create(session.Key, RawLaneFrame.HelloMethod, session.Lease.LeaseId, string.Empty, DateTimeOffset.UtcNow)));
            return new Hello(peer, (RawLaneReply)await peer.ReceiveAsync());
        }
        catch
        {
            peer.Dispose();
            throw;
        }
    }

    private static async Task<RawLanePeer> OpenRawTunnelAsync(Uri? rawLane, RawSession session)
    {
        var hello = await HelloAsync(rawLane, session);
        try
        {
            Assert.That(hello.Reply.IsAccepted, Is.True, hello.Reply.Detail);
            await hello.Peer.SendAsync(new RawLaneOpen("echo"));
            var opened = (RawLaneReply)await hello.Peer.ReceiveAsync();
            Assert.That(opened.IsAccepted, Is.True, opened.Detail);
            return hello.Peer;
        }
        catch
        {
            hello.Dispose();
            throw;
        }
    }

    private static async Task AssertEchoesAsync(Socket client, byte value)
    {
        await client.SendAllAsync(new[] { value });
        Assert.That(await client.ReadExactlyAsync(1).DefaultTimeout(), Is.EqualTo(new[] { value }));
    }

    private static async Task AssertEchoesAsync(RawLanePeer tunnel, byte value)
    {
        await tunnel.SendAsync(new[] { value });
        Assert.That(await tunnel.ReadExactlyAsync(1), Is.EqualTo(new[] { value }));
    }

    private static async Task AssertEchoesAsync(AsyncDuplexStreamingCall<TunnelFrame, TunnelFrame> tunnel, byte value)
    {
        await tunnel.RequestStream.WriteAsync(new TunnelFrame { Data = ByteString.CopyFrom(value) });
        Assert.That(await TunnelCalls.ReadAsync(tunnel, 1).DefaultTimeout(), Is.EqualTo(new[] { value }));
    }
}
