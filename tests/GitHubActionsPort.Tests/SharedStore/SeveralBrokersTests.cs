using System.Diagnostics;
using System.Net.Sockets;
using Grpc.Core;
using Grpc.Net.Client;
using Npgsql;
using BrokerClient = GitHubActionsPort.Protocol.V1.Broker.BrokerClient;

namespace GitHubActionsPort.Tests.SharedStore;

/// <summary>
/// Several broker processes sharing one real PostgreSQL behind a layer-4 balancer, as a platform team runs them: a
/// lease is good at every instance, survives the loss of the one that granted it and every restart; revocations,
/// blocks, single use and connection caps hold across instances; a store outage fails closed and heals by itself.
/// </summary>
[NonParallelizable]
public sealed class SeveralBrokersTests
{
    private PostgresServer? _postgres;
    private BrokerCluster _cluster = null!;

    [OneTimeSetUp]
    public async Task StartPostgresAsync()
    {
        _postgres = await PostgresServer.StartAsync().WithTimeout(TimeSpan.FromMinutes(2));
        if (_postgres is null)
        {
            Assert.Ignore("PostgreSQL is not installed: initdb, pg_ctl and postgres were found neither on PATH nor under /usr/lib/postgresql.");
        }
    }

    [OneTimeTearDown]
    public async Task StopPostgresAsync()
    {
        if (_postgres is not null)
        {
            await _postgres.DisposeAsync();
        }
    }

    [SetUp]
    public async Task CreateClusterAsync() => _cluster = await BrokerCluster.CreateAsync(_postgres!);

    [TearDown]
    public async Task DisposeClusterAsync() => await _cluster.DisposeAsync();

    [TestCase("grpc")]
    [TestCase("raw")]
    public async Task LeaseGrantedByA_OpensTunnelsThroughB(string lane)
    {
        var a = await _cluster.StartBrokerAsync();
        var b = await _cluster.StartBrokerAsync();
        _cluster.Route(a);
        await using var agent = await StartAgentAsync(lane);
        await a.WaitForLogAsync("Session lse_").DefaultTimeout();
        using (var first = await SocketIo.ConnectAsync(agent["echo"]))
        {
            await AssertEchoesAsync(first, 1);
        }

        _cluster.Route(b);
        // The agent's connections to A stay where they are (a balancer moves new connections only): cut them, as a
        // balancer failing over does, so the next tunnel must be carried by B while A is still up.
        _cluster.Grpc.ResetAll();
        _cluster.Raw.ResetAll();
        using var second = await SocketIo.ConnectAsync(agent["echo"]);
        await AssertEchoesAsync(second, 2);

        await b.WaitForLogAsync(" to echo opened").DefaultTimeout();
        Assert.That(b.CountLog("granted to"), Is.Zero, "B carried A's lease; it granted nothing itself");
    }

    [Test]
    public async Task GrantingInstanceKilled_AgentWithSingleUseToken_KeepsServingThroughB_AndTheLostTunnelIsRecorded()
    {
        var a = await _cluster.StartBrokerAsync();
        var b = await _cluster.StartBrokerAsync();
        _cluster.Route(a);
        await using var agent = await StartAgentAsync("grpc");
        using var onA = await SocketIo.ConnectAsync(agent["echo"]);
        await AssertEchoesAsync(onA, 1);

        _cluster.Route(b);
        await a.KillAsync();

        // The runner connection A carried ends with a reset: resuming it is later work.
        var (_, wasReset) = await onA.ReadUntilClosedAsync().DefaultTimeout();
        Assert.That(wasReset, Is.True, "a connection carried by the lost instance ends with a reset");
        for (var i = 0; i < 3; i++)
        {
            using var onB = await SocketIo.ConnectAsync(agent["echo"]);
            await AssertEchoesAsync(onB, (byte)(10 + i));
        }

        Assert.That(b.CountLog("granted to"), Is.Zero, "no new session: the single-use id-token was spent at A");
        // B finds A lost by its missed heartbeats and records A's tunnel as ended in its own trail.
        await WaitForFileAsync(b.AuditPath, text => text.Contains("instance lost", StringComparison.Ordinal));
    }

    [Test]
    public async Task RevokeSentToB_EndsATunnelCarriedByA_ByNotification()
    {
        // No poll to fall back on: only PostgreSQL's NOTIFY can carry the revocation from B to A in time.
        var quiet = new Dictionary<string, string?> { ["Broker:Store:PollInterval"] = "10m", ["Broker:Store:MaxStaleness"] = "20m", ["Broker:Store:InstanceTimeout"] = "30m" };
        var a = await _cluster.StartBrokerAsync(quiet);
        var b = await _cluster.StartBrokerAsync(quiet);
        _cluster.Route(a);
        await using var agent = await StartAgentAsync("grpc");
        using var onA = await SocketIo.ConnectAsync(agent["echo"]);
        await AssertEchoesAsync(onA, 1);
        var leaseId = LeaseIdIn(await a.WaitForLogAsync("Session lse_").DefaultTimeout());

        var revoked = Stopwatch.StartNew();
        var (exitCode, output, error) = await _cluster.SessionsAsync(b, "revoke", "--lease", leaseId, "--reason", "test");
        Assert.That(exitCode, Is.Zero, output + error);
        await onA.ReadUntilClosedAsync().DefaultTimeout();
        TestContext.Progress.WriteLine($"revoked at B, tunnel on A ended after {revoked.Elapsed.TotalMilliseconds:0} ms");
        Assert.That(await agent.Exit.DefaultTimeout(), Is.EqualTo(8), "a revoked lease ends the agent with its documented code");
    }

    [Test]
    public async Task Block_StaysInForce_AfterEveryBrokerRestarts()
    {
        var a = await _cluster.StartBrokerAsync();
        var b = await _cluster.StartBrokerAsync();
        _cluster.Route(a, b);
        var (exitCode, output, error) = await _cluster.SessionsAsync(a, "revoke", "--claim", "repository=acme/app", "--block", "--reason", "incident");
        Assert.That(exitCode, Is.Zero, output + error);

        foreach (var broker in new[] { a, b })
        {
            Assert.That(await broker.Process.TerminateAsync(), Is.Zero, broker.Process.Describe());
        }

        var a2 = await _cluster.StartBrokerAsync();
        var b2 = await _cluster.StartBrokerAsync();
        foreach (var broker in new[] { a2, b2 })
        {
            var refusal = await RefusedSessionAsync(broker, _cluster.Issuer.MintToken("ghaport"));
            Assert.That(refusal.StatusCode, Is.EqualTo(StatusCode.PermissionDenied), refusal.Status.Detail);
            Assert.That(refusal.Status.Detail, Does.Contain("blocked"));
        }
    }

    [Test]
    public async Task IdTokenUsedAtA_IsRefusedAtB()
    {
        var a = await _cluster.StartBrokerAsync();
        var b = await _cluster.StartBrokerAsync();
        var token = _cluster.Issuer.MintToken("ghaport");
        using var channelA = GrpcChannel.ForAddress(a.Address);
        using var session = await RawSession.OpenAsync(new BrokerClient(channelA), token, ["echo"]);

        var refusal = await RefusedSessionAsync(b, token);
        Assert.That(refusal.StatusCode, Is.EqualTo(StatusCode.Unauthenticated), refusal.Status.Detail);
        Assert.That(refusal.Status.Detail, Does.Contain("already"));
    }

    [Test]
    public async Task ProofUsedAtA_IsRefusedWhenReplayedAtB()
    {
        var a = await _cluster.StartBrokerAsync();
        var b = await _cluster.StartBrokerAsync();
        using var channelA = GrpcChannel.ForAddress(a.Address);
        using var channelB = GrpcChannel.ForAddress(b.Address);
        using var session = await RawSession.OpenAsync(new BrokerClient(channelA), _cluster.Issuer.MintToken("ghaport"), ["echo"]);
        var headers = session.Headers("Tunnel", "echo");
        var (callA, refusedAtA) = await session.TunnelAsync(headers);
        using (callA)
        {
            Assert.That(refusedAtA, Is.Null, "the proof is good the first time");
        }

        var (callB, refusedAtB) = await session.WithClient(new BrokerClient(channelB)).TunnelAsync(headers);
        callB.Dispose();
        Assert.That(refusedAtB, Is.Not.Null, "the same proof replayed at another instance opens nothing");
        Assert.That(refusedAtB!.Status.Detail, Does.Contain("already used"));
    }

    [Test]
    public async Task MaxConnectionsFour_EightRacingThroughTwoInstances_AdmitsExactlyFour()
    {
        _cluster.Configuration["Broker:Rules:0:MaxConnections"] = "4";
        var a = await _cluster.StartBrokerAsync();
        var b = await _cluster.StartBrokerAsync();
        using var channelA = GrpcChannel.ForAddress(a.Address);
        using var channelB = GrpcChannel.ForAddress(b.Address);
        using var session = await RawSession.OpenAsync(new BrokerClient(channelA), _cluster.Issuer.MintToken("ghaport"), ["echo"]);
        var throughB = session.WithClient(new BrokerClient(channelB));

        var attempts = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => (i % 2 == 0 ? session : throughB).TunnelAsync(session.Headers("Tunnel", "echo"))));
        try
        {
            Assert.That(attempts.Count(t => t.Refusal is null), Is.EqualTo(4), string.Join(Environment.NewLine, attempts.Select(t => t.Refusal?.Status.Detail)));
            Assert.That(attempts.Where(t => t.Refusal is not null).Select(t => t.Refusal!.StatusCode), Is.All.EqualTo(StatusCode.ResourceExhausted));
        }
        finally
        {
            foreach (var (call, _) in attempts)
            {
                call.Dispose();
            }
        }
    }

    [Test]
    public async Task TwoBrokersStartingTogetherOnAnEmptyDatabase_BothComeUpWithOneSchema()
    {
        var starting = await Task.WhenAll(_cluster.StartBrokerAsync(), _cluster.StartBrokerAsync());
        Assert.That(starting, Has.Length.EqualTo(2));
        await using var connection = new NpgsqlConnection(_cluster.ConnectionString + ";Pooling=false");
        await connection.OpenAsync().DefaultTimeout();
        await using var schemas = new NpgsqlCommand("SELECT count(*) FROM information_schema.schemata WHERE schema_name = 'ghaport'", connection);
        Assert.That(await schemas.ExecuteScalarAsync().DefaultTimeout(), Is.EqualTo(1L));

        using var channel = GrpcChannel.ForAddress(starting[1].Address);
        using var session = await RawSession.OpenAsync(new BrokerClient(channel), _cluster.Issuer.MintToken("ghaport"), ["echo"]);
        Assert.That(session.Lease.LeaseId, Does.StartWith("lse_"));
    }

    [Test]
    public async Task StoreStopped_NewSessionsRefusedWithTheCause_TunnelRunsUntilMaxStaleness_AndAfterStartSessionsWork()
    {
        var a = await _cluster.StartBrokerAsync(new Dictionary<string, string?> { ["Broker:Store:MaxStaleness"] = "8s", ["Broker:Store:InstanceTimeout"] = "10s" });
        _cluster.Route(a);
        await using var agent = await StartAgentAsync("grpc");
        using var tunnel = await SocketIo.ConnectAsync(agent["echo"]);
        await AssertEchoesAsync(tunnel, 1);

        await _postgres!.StopServerAsync();
        try
        {
            var refusal = await RefusedSessionAsync(a, _cluster.Issuer.MintToken("ghaport"));
            Assert.That(refusal.StatusCode, Is.EqualTo(StatusCode.Unavailable), refusal.Status.Detail);
            Assert.That(refusal.Status.Detail, Does.Contain("state store"));
            // Bytes still flow on the open tunnel while the store is away...
            await AssertEchoesAsync(tunnel, 2);
            // ...until the broker can no longer vouch that it would hear a revocation.
            var (_, _) = await tunnel.ReadUntilClosedAsync().DefaultTimeout();
            await a.WaitForLogAsync("state store").DefaultTimeout();
        }
        finally
        {
            await _postgres.StartServerAsync();
        }

        await a.WaitForLogAsync("state store is reachable again").DefaultTimeout();
        using var channel = GrpcChannel.ForAddress(a.Address);
        using var session = await RawSession.OpenAsync(new BrokerClient(channel), _cluster.Issuer.MintToken("ghaport"), ["echo"]);
        Assert.That(session.Lease.LeaseId, Does.StartWith("lse_"), "no restart needed once the store is back");
        Assert.That(a.Process.HasExited, Is.False);
    }

    [Test]
    public async Task DrainingInstance_FinishesItsTunnel_RefusesNewOnes_AndTheAgentGoesToB()
    {
        var a = await _cluster.StartBrokerAsync(new Dictionary<string, string?> { ["Broker:Transport:DrainTimeout"] = "30s" });
        var b = await _cluster.StartBrokerAsync();
        _cluster.Route(a);
        await using var agent = await StartAgentAsync("grpc");
        using var inFlight = await SocketIo.ConnectAsync(agent["echo"]);
        await AssertEchoesAsync(inFlight, 1);

        _cluster.Route(b);
        var stopping = a.Process.TerminateAsync();
        await a.WaitForLogAsync("Draining: the broker is stopping").DefaultTimeout();

        // A refuses a new tunnel on both lanes while it drains...
        using var channelA = GrpcChannel.ForAddress(a.Address);
        using var channelB = GrpcChannel.ForAddress(b.Address);
        using (var direct = await RawSession.OpenAsync(new BrokerClient(channelB), _cluster.Issuer.MintToken("ghaport"), ["echo"]))
        {
            var (call, refusal) = await direct.WithClient(new BrokerClient(channelA)).TunnelAsync(direct.Headers("Tunnel", "echo"));
            call.Dispose();
            Assert.That(refusal?.StatusCode, Is.EqualTo(StatusCode.Unavailable));
            Assert.That(refusal!.Status.Detail, Does.StartWith("the broker is draining"));
        }

        // ...the agent's new connections go through B, and the tunnel in flight on A still carries bytes to its end.
        using (var onB = await SocketIo.ConnectAsync(agent["echo"]))
        {
            await AssertEchoesAsync(onB, 2);
        }

        await AssertEchoesAsync(inFlight, 3);
        inFlight.Shutdown(SocketShutdown.Send);
        Assert.That(await inFlight.ReadToEndAsync().DefaultTimeout(), Is.Empty);
        Assert.That(await stopping.DefaultTimeout(), Is.Zero, a.Process.Describe());
    }

    [Test]
    public async Task BrokerRestartedOnPostgres_KeepsTheLease_NoNewIdToken()
    {
        var a = await _cluster.StartBrokerAsync();
        _cluster.Route(a);
        await using var agent = await StartAgentAsync("raw");
        using (var before = await SocketIo.ConnectAsync(agent["echo"]))
        {
            await AssertEchoesAsync(before, 1);
        }

        await a.KillAsync();
        var a2 = await _cluster.StartBrokerAsync();
        _cluster.Route(a2);
        using var after = await SocketIo.ConnectAsync(agent["echo"]);
        await AssertEchoesAsync(after, 2);
        Assert.That(a2.CountLog("granted to"), Is.Zero, "the restarted broker carried the lease it found in the store");
    }

    private Task<AgentUnderTest> StartAgentAsync(string lane) =>
        AgentUnderTest.StartAsync(
            _cluster.BrokerUrl, ["0:echo"], new Dictionary<string, string?>(),
            extraArgs: ["--id-token-file", _cluster.SingleTokenFile(), "--lane", lane], echo: TestContext.Progress);

    /// <summary>Opens a session at <paramref name="broker"/> directly, expecting a refusal, and returns it.</summary>
    private static async Task<RpcException> RefusedSessionAsync(ClusterBroker broker, string idToken)
    {
        using var channel = GrpcChannel.ForAddress(broker.Address);
        try
        {
            using var session = await RawSession.OpenAsync(new BrokerClient(channel), idToken, ["echo"]);
        }
        catch (RpcException refusal)
        {
            return refusal;
        }

        Assert.Fail($"{broker.Name} granted a session it should have refused");
        throw new UnreachableException();
    }

    private static async Task AssertEchoesAsync(Socket client, byte value)
    {
        await client.SendAllAsync(new[] { value });
        Assert.That(await client.ReadExactlyAsync(1).DefaultTimeout(), Is.EqualTo(new[] { value }));
    }

    /// <summary>Waits (bounded) until <paramref name="path"/> satisfies <paramref name="done"/>, re-reading it as it grows.</summary>
    private static async Task WaitForFileAsync(string path, Func<string, bool> done)
    {
        using var watcher = new FileSystemWatcher(Path.GetDirectoryName(path)!, Path.GetFileName(path)) { EnableRaisingEvents = true };
        var deadline = Stopwatch.StartNew();
        while (!(File.Exists(path) && done(await File.ReadAllTextAsync(path))))
        {
            Assert.That(deadline.Elapsed, Is.LessThan(TaskTimeouts.Default), $"{path} never showed what was awaited");
            watcher.WaitForChanged(WatcherChangeTypes.Changed | WatcherChangeTypes.Created, 1000);
        }
    }

    private static string LeaseIdIn(string line) => line.Split(' ').First(w => w.StartsWith("lse_", StringComparison.Ordinal)).TrimEnd(',', ':');
}
