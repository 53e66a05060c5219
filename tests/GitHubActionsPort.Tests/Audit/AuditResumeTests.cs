using GitHubActionsPort.Broker.Audit;
using Microsoft.Extensions.Logging.Abstractions;

namespace GitHubActionsPort.Tests.Audit;

/// <summary>A trail whose last line was cut short (a crash or a full disk mid-write) is resumed after its last whole record.</summary>
public sealed class AuditResumeTests
{
    private string _folder = null!;

    private string TrailPath => Path.Combine(_folder, "audit.jsonl");

    [SetUp]
    public void CreateFolder() => _folder = Directory.CreateTempSubdirectory("ghaport-resume-").FullName;

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    [Test]
    public async Task PartialLastLine_IsCutOff_AndTheChainGoesOn()
    {
        await WriteAsync(3);
        await File.AppendAllTextAsync(TrailPath, "{\"seq\":4,\"time\":\"2026-01-01T00:00:00+00:00\",\"type\":\"tunnel.op");

        await WriteAsync(2);

        var result = AuditVerifier.Verify(TrailPath);
        Assert.That(result.IsIntact, Is.True, result.Problem);
        Assert.That(result.Records, Is.EqualTo(5));
        Assert.That(await File.ReadAllTextAsync(TrailPath), Does.Not.Contain("tunnel.op\""));
    }

    private async Task WriteAsync(int count)
    {
        await using var log = new AuditLog(new AuditOptions { Path = TrailPath }, TimeProvider.System, NullLogger<AuditLog>.Instance);
        for (var i = 0; i < count; i++)
        {
            await log.WriteAsync(new AuditRecord("tunnel.opened", new Dictionary<string, object?> { ["n"] = i })).DefaultTimeout();
        }
    }
}
