using GitHubActionsPort.Broker.Audit;
using Microsoft.Extensions.Logging.Abstractions;

namespace GitHubActionsPort.Tests.Audit;

/// <summary>
/// Retention of rotated files (<c>Broker:Audit:MaxFiles</c>, <c>MaxTotalBytes</c>): the oldest go, what is kept still
/// verifies as the start of a kept window, and tampering with what is kept, or removing more, is still found.
/// </summary>
public sealed class AuditRetentionTests
{
    private string _folder = null!;

    private string TrailPath => Path.Combine(_folder, "audit.jsonl");

    [SetUp]
    public void CreateFolder() => _folder = Directory.CreateTempSubdirectory("ghaport-retention-").FullName;

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    [Test]
    public async Task MaxFiles_KeepsThatManyFiles_AndTheKeptWindowVerifies()
    {
        await WriteAsync(new AuditOptions { Path = TrailPath, MaxFileBytes = 2048, MaxFiles = 3 }, 200);

        Assert.That(Directory.GetFiles(_folder, "audit.jsonl*"), Has.Length.EqualTo(3));
        var result = AuditVerifier.Verify(TrailPath);
        Assert.That(result.IsIntact, Is.True, result.Problem);
        Assert.That(result.FirstRecord, Is.GreaterThan(1));
        Assert.That(result.OlderRemovedByRetention, Is.True);
        Assert.That(AuditTrailFile.Read(TrailPath).Select(AuditTrailFile.TypeOf), Has.Some.EqualTo("audit.retention"));

        await using var verify = BrokerProcess.Start(["audit", "verify", TrailPath]);
        Assert.That(await verify.WaitForExitAsync(), Is.Zero, verify.Describe());
        Assert.That(verify.Output.Lines, Has.Some.Contains($"from record {result.FirstRecord} (older files were removed by retention)"));
    }

    [Test]
    public async Task MaxTotalBytes_BoundsTheTrail()
    {
        await WriteAsync(new AuditOptions { Path = TrailPath, MaxFileBytes = 2048, MaxTotalBytes = 8192 }, 300);

        var files = Directory.GetFiles(_folder, "audit.jsonl*");
        // A file rotates once it passes MaxFileBytes, so the current one may hold one batch more.
        Assert.That(files.Sum(f => new FileInfo(f).Length), Is.LessThanOrEqualTo(8192 + 2048));
        Assert.That(files, Has.Length.GreaterThan(1));
        var result = AuditVerifier.Verify(TrailPath);
        Assert.That(result.IsIntact, Is.True, result.Problem);
        Assert.That(result.OlderRemovedByRetention, Is.True);
    }

    [Test]
    public async Task EditingAKeptFile_IsStillFound()
    {
        await WriteAsync(new AuditOptions { Path = TrailPath, MaxFileBytes = 2048, MaxFiles = 3 }, 200);
        var oldest = AuditFiles.Rotated(TrailPath)[0];
        var lines = File.ReadAllLines(oldest);
        lines[2] = lines[2].Replace("\"n\":", "\"n\":1", StringComparison.Ordinal);
        File.WriteAllLines(oldest, lines);

        var result = AuditVerifier.Verify(TrailPath);

        Assert.That(result.IsIntact, Is.False);
        Assert.That(result.BrokenFile, Is.EqualTo(oldest));
        Assert.That(result.BrokenLine, Is.EqualTo(3));
    }

    [TestCase(0, TestName = "RemovingTheOldestKeptFile_IsFound")]
    [TestCase(1, TestName = "EditingTheFirstKeptRecord_IsFound")]
    public async Task ShrinkingTheKeptWindow_IsFound(int tamper)
    {
        await WriteAsync(new AuditOptions { Path = TrailPath, MaxFileBytes = 2048, MaxFiles = 3 }, 200);
        var oldest = AuditFiles.Rotated(TrailPath)[0];
        if (tamper == 0)
        {
            File.Delete(oldest);
        }
        else
        {
            var lines = File.ReadAllLines(oldest);
            lines[0] = lines[0].Replace("\"seq\":", "\"seq\":1", StringComparison.Ordinal);
            File.WriteAllLines(oldest, lines);
        }

        var result = AuditVerifier.Verify(TrailPath);

        Assert.That(result.IsIntact, Is.False);
        Assert.That(result.Problem, Does.Contain("retention").Or.Contain("follows"));
    }

    private static async Task WriteAsync(AuditOptions options, int count)
    {
        await using var log = new AuditLog(options, TimeProvider.System, NullLogger<AuditLog>.Instance);
        for (var i = 0; i < count; i++)
        {
            await log.WriteAsync(new AuditRecord("tunnel.closed", new Dictionary<string, object?> { ["n"] = i, ["target"] = "prod-db" })).DefaultTimeout();
        }
    }
}
