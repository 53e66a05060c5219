using System.Net.Sockets;
using GitHubActionsPort.Broker.Audit;
using GitHubActionsPort.Broker.DevIssuer;
using Microsoft.Extensions.DependencyInjection;

namespace GitHubActionsPort.Tests;

/// <summary>A real session through a real broker leaves the audit trail a platform engineer would expect.</summary>
public sealed class AuditedSessionTests
{
    private static readonly string[] ExpectedTypes = ["session.granted", "tunnel.opened", "tunnel.closed", "lease.ended"];

    private string _trail = null!;

    [SetUp]
    public void ChooseTrail() => _trail = BrokerUnderTest.TempAuditPath();

    [TearDown]
    public void DeleteTrail() => Directory.Delete(Path.GetDirectoryName(_trail)!, recursive: true);

    [Test]
    public async Task ScriptedSession_IsRecorded_WithByteCounts_AndVerifies()
    {
        await using var issuer = await DevIssuer.StartAsync().DefaultTimeout();
        await using var echo = TcpTestServer.Echo();
        var broker = await StartBrokerAsync(issuer, echo);
        await using (var agent = await AgentUnderTest.StartAsync(broker.Address, ["0:echo"], AgentUnderTest.GitHubEnvironment(issuer), echo: TestContext.Progress))
        {
            var data = SocketIo.RandomBytes(100 * 1024);
            using var client = await SocketIo.ConnectAsync(agent["echo"]);
            var reading = client.ReadToEndAsync();
            await client.SendAllAsync(data);
            client.Shutdown(SocketShutdown.Send);
            Assert.That(await reading.DefaultTimeout(), Has.Length.EqualTo(data.Length));
            await broker.Logs.WaitForAsync(e => e.EventId.Name == "TunnelClosed").DefaultTimeout();
            Assert.That(await agent.StopAsync(), Is.Zero);
        }

        await broker.Logs.WaitForAsync(e => e.EventId.Name == "SessionClosed").DefaultTimeout();
        // Stopping the broker drains the trail's queue: every record is on disk after this.
        await broker.DisposeAsync();
        var lines = await File.ReadAllLinesAsync(_trail);
        var text = string.Join('\n', lines);

        Assert.That(Types(lines), Is.EqualTo(ExpectedTypes));
        Assert.That(lines[2], Does.Contain("\"bytes_to_target\":102400").And.Contain("\"bytes_from_target\":102400").And.Contain("\"reason\":\"completed\""));
        Assert.That(lines[3], Does.Contain("closed by the agent"));
        Assert.That(lines[0], Does.Contain("\"repository\":\"acme/app\"").And.Contain("\"run_id\":\"3000001\""));
        Assert.That(text, Does.Not.Contain("eyJ"), "no token, nor any JWT, is ever written to the trail");
        Assert.That(AuditVerifier.Verify(_trail).IsIntact, Is.True);
    }

    [Test]
    public async Task AuditVerifyCommand_PassesAnIntactTrail_AndNamesTheEditedRecord()
    {
        await using (var trail = new AuditLog(new AuditOptions { Path = _trail }, TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger<AuditLog>.Instance))
        {
            for (var i = 0; i < 5; i++)
            {
                await trail.WriteAsync(new AuditRecord("tunnel.opened", new Dictionary<string, object?> { ["n"] = i })).DefaultTimeout();
            }
        }

        await using (var intact = BrokerProcess.Start(["audit", "verify", _trail]))
        {
            Assert.That(await intact.WaitForExitAsync(), Is.Zero, intact.Describe());
            Assert.That(intact.Output.Lines, Has.Some.Contains("intact: 5 records"));
        }

        var lines = await File.ReadAllLinesAsync(_trail);
        lines[1] = lines[1].Replace("\"n\":1", "\"n\":7", StringComparison.Ordinal);
        await File.WriteAllLinesAsync(_trail, lines);
        await using var broken = BrokerProcess.Start(["audit", "verify", _trail]);

        Assert.That(await broken.WaitForExitAsync(), Is.EqualTo(8), broken.Describe());
        Assert.That(broken.Error.Lines, Has.Some.Contains("line 2"));
    }

    [Test]
    public async Task UnwritableTrail_RefusesNewTunnels()
    {
        await using var issuer = await DevIssuer.StartAsync().DefaultTimeout();
        await using var echo = TcpTestServer.Echo();
        await using var broker = await StartBrokerAsync(issuer, echo);
        await using var agent = await AgentUnderTest.StartAsync(broker.Address, ["0:echo"], AgentUnderTest.GitHubEnvironment(issuer), echo: TestContext.Progress);

        // The trail goes away under the broker (as a full or failed disk would): it can record nothing more.
        await broker.Services.GetRequiredService<AuditLog>().DisposeAsync();
        using var client = await SocketIo.ConnectAsync(agent["echo"]);
        var (data, _) = await client.ReadUntilClosedAsync().DefaultTimeout();

        Assert.That(data, Is.Empty);
        var refused = await agent.Logs.WaitForAsync(e => e.EventId.Name == "TunnelRefused").DefaultTimeout();
        Assert.That(refused.Message, Does.Contain("audit trail"));
        Assert.That(echo.AcceptedCount, Is.Zero, "the target is never dialled for a tunnel that cannot be recorded");
    }

    [Test]
    public async Task UnwritableAuditFile_RefusesSessions_WithACause()
    {
        await using var issuer = await DevIssuer.StartAsync().DefaultTimeout();
        await using var echo = TcpTestServer.Echo();
        // A regular file where the trail's folder should be: nobody, not even root, can create the trail there.
        Directory.CreateDirectory(Path.GetDirectoryName(_trail)!);
        await File.WriteAllTextAsync(_trail, "not a folder");
        var configuration = BrokerUnderTest.DefaultConfiguration(issuer.Issuer, new Dictionary<string, string> { ["echo"] = echo.Address });
        configuration["Broker:Audit:Path"] = Path.Combine(_trail, "audit.jsonl");
        await using var broker = await BrokerUnderTest.StartAsync(configuration, TestContext.Progress);

        var agent = AgentUnderTest.Run(broker.Address, ["0:echo"], AgentUnderTest.GitHubEnvironment(issuer), echo: TestContext.Progress);
        var exitCode = await agent.Exit.DefaultTimeout();
        await agent.DisposeAsync();

        Assert.That(exitCode, Is.EqualTo(GitHubActionsPort.Agent.Cli.ExitCodes.BrokerUnreachable));
        Assert.That(agent.Error.Lines, Has.Some.Contains("audit trail"));
        Assert.That(echo.AcceptedCount, Is.Zero);
    }

    private async Task<BrokerUnderTest> StartBrokerAsync(DevIssuer issuer, TcpTestServer echo)
    {
        var configuration = BrokerUnderTest.DefaultConfiguration(issuer.Issuer, new Dictionary<string, string> { ["echo"] = echo.Address });
        configuration["Broker:Audit:Path"] = _trail;
        return await BrokerUnderTest.StartAsync(configuration, TestContext.Progress);
    }

    private static string[] Types(IEnumerable<string> lines) =>
        lines.Select(l => l.Split("\"type\":\"")[1].Split('"')[0]).ToArray();
}

/// <summary>A broker process killed without warning has lost no record it acknowledged.</summary>
public sealed class AuditDurabilityTests
{
    [Test]
    public async Task KilledBroker_KeepsEveryAcknowledgedRecord()
    {
        var trail = BrokerUnderTest.TempAuditPath();
        var folder = Path.GetDirectoryName(trail)!;
        await using var issuer = await DevIssuer.StartAsync().DefaultTimeout();
        await using var echo = TcpTestServer.Echo();
        Directory.CreateDirectory(folder);
        var config = Path.Combine(folder, "broker.json");
        await File.WriteAllTextAsync(config, ConfigFileBroker.ToJson(BrokerUnderTest.DefaultConfiguration(issuer.Issuer, new Dictionary<string, string> { ["echo"] = echo.Address })));
        try
        {
            await using var broker = BrokerProcess.Start(["--config", config, "--urls", "http://127.0.0.1:0"], new Dictionary<string, string?> { ["Broker__Audit__Path"] = trail });
            var address = await broker.WaitListeningAsync();
            await using var agent = await AgentUnderTest.StartAsync(address, ["0:echo"], AgentUnderTest.GitHubEnvironment(issuer), echo: TestContext.Progress);

            // The session was granted and the tunnel opened: both records were acknowledged, so both are on disk.
            using var client = await SocketIo.ConnectAsync(agent["echo"]);
            await client.SendAllAsync(new byte[] { 1 });
            Assert.That(await client.ReadExactlyAsync(1).DefaultTimeout(), Is.EqualTo(new byte[] { 1 }));

            System.Diagnostics.Process.GetProcessById(broker.Id).Kill();
            await broker.WaitForExitAsync();
        }
        finally
        {
            var lines = File.Exists(trail) ? await File.ReadAllLinesAsync(trail) : [];
            var verification = File.Exists(trail) ? AuditVerifier.Verify(trail) : null;
            var text = string.Join('\n', lines);
            Directory.Delete(folder, recursive: true);
            Assert.That(text, Does.Contain("\"type\":\"session.granted\"").And.Contain("\"type\":\"tunnel.opened\""));
            Assert.That(verification?.IsIntact, Is.True, verification?.Problem);
        }
    }
}
