using GitHubActionsPort.Broker.Audit;
using Microsoft.Extensions.Logging.Abstractions;

namespace GitHubActionsPort.Tests;

/// <summary>The hash-chained audit trail: every record acknowledged is on disk and any tampering is found.</summary>
public sealed class AuditTrailTests
{
    private string _folder = null!;

    private string TrailPath => Path.Combine(_folder, "audit.jsonl");

    [SetUp]
    public void CreateFolder() => _folder = Directory.CreateTempSubdirectory("ghaport-audit-").FullName;

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    [Test]
    public async Task ConcurrentRecords_AreAllWritten_InOneUnbrokenChain()
    {
        await using (var trail = Open())
        {
            await Task.WhenAll(Enumerable.Range(0, 500).Select(i => trail.WriteAsync(Record("tunnel.opened", i)))).DefaultTimeout();
        }

        var result = AuditVerifier.Verify(TrailPath);

        Assert.That(result.IsIntact, Is.True, result.Problem);
        Assert.That(result.Records, Is.EqualTo(500));
        Assert.That(File.ReadAllLines(TrailPath).Select(l => l.Split("\"seq\":")[1].Split(',')[0]).Distinct().Count(), Is.EqualTo(500));
    }

    [Test]
    public async Task ReopenedTrail_ContinuesTheChain()
    {
        await WriteAsync(3);
        await WriteAsync(2);

        var result = AuditVerifier.Verify(TrailPath);

        Assert.That(result.IsIntact, Is.True, result.Problem);
        Assert.That(result.Records, Is.EqualTo(5));
    }

    [Test]
    public async Task EditedRecord_FailsVerification_AtThatRecord()
    {
        await WriteAsync(6);
        var lines = File.ReadAllLines(TrailPath);
        lines[2] = lines[2].Replace("\"n\":2", "\"n\":9", StringComparison.Ordinal);
        File.WriteAllLines(TrailPath, lines);

        var result = AuditVerifier.Verify(TrailPath);

        Assert.That(result.IsIntact, Is.False);
        Assert.That(result.BrokenLine, Is.EqualTo(3));
    }

    [Test]
    public async Task RemovedRecord_FailsVerification_WhereItWas()
    {
        await WriteAsync(6);
        var lines = File.ReadAllLines(TrailPath).ToList();
        lines.RemoveAt(3);
        File.WriteAllLines(TrailPath, lines);

        var result = AuditVerifier.Verify(TrailPath);

        Assert.That(result.IsIntact, Is.False);
        Assert.That(result.BrokenLine, Is.EqualTo(4));
        Assert.That(result.Problem, Does.Contain("record 5 follows record 3"));
    }

    [Test]
    public async Task ReorderedRecords_FailVerification()
    {
        await WriteAsync(6);
        var lines = File.ReadAllLines(TrailPath);
        (lines[2], lines[3]) = (lines[3], lines[2]);
        File.WriteAllLines(TrailPath, lines);

        var result = AuditVerifier.Verify(TrailPath);

        Assert.That(result.IsIntact, Is.False);
        Assert.That(result.BrokenLine, Is.EqualTo(3));
    }

    [Test]
    public async Task RotatedTrail_KeepsTheChainAcrossFiles_AndTamperingInAnOldFileIsFound()
    {
        await using (var trail = Open(maxFileBytes: 2048))
        {
            for (var i = 0; i < 60; i++)
            {
                await trail.WriteAsync(Record("tunnel.closed", i)).DefaultTimeout();
            }
        }

        var files = Directory.GetFiles(_folder, "audit.jsonl*");
        var intact = AuditVerifier.Verify(TrailPath);
        Assert.That(files, Has.Length.GreaterThan(2), "the trail rotated");
        Assert.That(intact.IsIntact, Is.True, intact.Problem);
        Assert.That(intact.Records, Is.GreaterThan(60), "every record, plus one rotation record per new file");

        var oldest = files.Where(f => f != TrailPath).Order(StringComparer.Ordinal).First();
        var lines = File.ReadAllLines(oldest);
        lines[1] = lines[1].Replace("tunnel.closed", "tunnel.opened", StringComparison.Ordinal);
        File.WriteAllLines(oldest, lines);
        var tampered = AuditVerifier.Verify(TrailPath);

        Assert.That(tampered.IsIntact, Is.False);
        Assert.That(tampered.BrokenFile, Is.EqualTo(oldest));
        Assert.That(tampered.BrokenLine, Is.EqualTo(2));
    }

    [Test]
    public async Task UnwritableTrail_FailsTheWriter()
    {
        // A regular file where the trail's folder should be: no user, not even root, can create the trail there.
        var blocker = Path.Combine(_folder, "not-a-folder");
        await File.WriteAllTextAsync(blocker, "x");
        await using var trail = new AuditLog(new AuditOptions { Path = Path.Combine(blocker, "audit.jsonl") }, TimeProvider.System, NullLogger<AuditLog>.Instance);

        var failure = Assert.ThrowsAsync<AuditWriteException>(() => trail.WriteAsync(Record("tunnel.opened", 1)).DefaultTimeout());

        Assert.That(failure!.Message, Does.Contain("cannot be written"));
    }

    private AuditLog Open(long maxFileBytes = 64L * 1024 * 1024) =>
        new(new AuditOptions { Path = TrailPath, MaxFileBytes = maxFileBytes }, TimeProvider.System, NullLogger<AuditLog>.Instance);

    private async Task WriteAsync(int count)
    {
        await using var trail = Open();
        for (var i = 0; i < count; i++)
        {
            await trail.WriteAsync(Record("session.granted", i)).DefaultTimeout();
        }
    }

    private static AuditRecord Record(string type, int n) =>
        new(type, new Dictionary<string, object?> { ["n"] = n, ["lease"] = $"lse_{n:x16}", ["target"] = "prod-db" });
}
