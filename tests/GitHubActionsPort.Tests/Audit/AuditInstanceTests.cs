using System.Text.Json;
using GitHubActionsPort.Broker.Audit;
using GitHubActionsPort.Broker.Store;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace GitHubActionsPort.Tests.Audit;

/// <summary>
/// Each instance keeps a trail of its own, and the files are shipped to one place: every record names the instance
/// that wrote it (issue 11), and a trail begun before records did (an upgrade) still verifies as one chain.
/// </summary>
public sealed class AuditInstanceTests
{
    private string _folder = null!;

    private string TrailPath => Path.Combine(_folder, "audit.jsonl");

    [SetUp]
    public void CreateFolder() => _folder = Directory.CreateTempSubdirectory("ghaport-instance-").FullName;

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    [Test]
    public async Task TrailWrittenBeforeAnUpgrade_GoesOnWithTheInstance_AndVerifies()
    {
        await using (var before = new AuditLog(new AuditOptions { Path = TrailPath }, TimeProvider.System, NullLogger<AuditLog>.Instance))
        {
            await before.WriteAsync(new AuditRecord("tunnel.opened", new Dictionary<string, object?> { ["n"] = 1 })).DefaultTimeout();
        }

        var instance = new BrokerInstance(TimeProvider.System);
        await using (var after = new AuditLog(new AuditOptions { Path = TrailPath }, TimeProvider.System, NullLogger<AuditLog>.Instance, instance))
        {
            await after.WriteAsync(new AuditRecord("tunnel.opened", new Dictionary<string, object?> { ["n"] = 2 })).DefaultTimeout();
        }

        var result = AuditVerifier.Verify(TrailPath);
        Assert.That(result.IsIntact, Is.True, result.Problem);
        Assert.That(result.Records, Is.EqualTo(2));
        var lines = await File.ReadAllLinesAsync(TrailPath);
        Assert.That(Instance(lines[0]), Is.Null, "a record written before the upgrade is left as it was");
        Assert.That(Instance(lines[1]), Is.EqualTo(instance.Id));
    }

    [Test]
    public async Task EveryRecordOfABroker_NamesItsInstance_AndTheTrailVerifies()
    {
        await using var issuer = await Broker.DevIssuer.DevIssuer.StartAsync().DefaultTimeout();
        await using var echo = TcpTestServer.Echo();
        var configuration = BrokerUnderTest.DefaultConfiguration(issuer.Issuer, new Dictionary<string, string> { ["echo"] = echo.Address });
        configuration["Broker:Audit:Path"] = TrailPath;
        string instanceId;
        await using (var broker = await BrokerUnderTest.StartAsync(configuration, TestContext.Progress))
        {
            instanceId = broker.Services.GetRequiredService<BrokerInstance>().Id;
            await using var agent = await AgentUnderTest.StartAsync(broker.Address, ["0:echo"], AgentUnderTest.GitHubEnvironment(issuer), echo: TestContext.Progress);
            using var client = await SocketIo.ConnectAsync(agent["echo"]);
            await client.SendAllAsync(new byte[] { 1 });
            Assert.That(await client.ReadExactlyAsync(1).DefaultTimeout(), Is.EqualTo(new byte[] { 1 }));
        }

        var result = AuditVerifier.Verify(TrailPath);
        Assert.That(result.IsIntact, Is.True, result.Problem);
        var lines = await File.ReadAllLinesAsync(TrailPath);
        Assert.That(lines.Select(Type), Does.Contain("session.granted").And.Contain("tunnel.opened"));
        Assert.That(lines.Select(Instance), Is.All.EqualTo(instanceId));
    }

    private static string? Instance(string line)
    {
        using var json = JsonDocument.Parse(line);
        return json.RootElement.TryGetProperty("instance", out var instance) ? instance.GetString() : null;
    }

    private static string? Type(string line)
    {
        using var json = JsonDocument.Parse(line);
        return json.RootElement.GetProperty("type").GetString();
    }
}
