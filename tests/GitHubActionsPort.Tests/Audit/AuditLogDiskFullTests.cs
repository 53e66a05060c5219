using GitHubActionsPort.Broker.Audit;
using Microsoft.Extensions.Logging.Abstractions;

namespace GitHubActionsPort.Tests.Audit;

/// <summary>
/// The audit writer on a real full disk (a small tmpfs): every record either reaches the disk or fails its writer
/// promptly, the writer outlives the failure, and it writes again by itself once space returns.
/// </summary>
public sealed class AuditLogDiskFullTests : SmallDiskTest
{
    [Test]
    public async Task FullDisk_FailsEveryWaiter_ThenTheSameWriterRecovers_WhenSpaceReturns()
    {
        var disk = await MountAsync(256 * 1024);
        var path = Path.Combine(disk.Folder, "audit.jsonl");
        await using var log = new AuditLog(new AuditOptions { Path = path, GroupCommitWindow = TimeSpan.Zero }, TimeProvider.System, NullLogger<AuditLog>.Instance);
        for (var i = 0; i < 3; i++)
        {
            await log.WriteAsync(Record(i)).DefaultTimeout();
        }

        var filler = disk.Fill();

        // One at a time, then many at once (a batch larger than any buffer): each fails, none hangs.
        var failed = 0;
        for (var i = 0; i < 20; i++)
        {
            failed += await FailsAsync(log.WriteAsync(Record(100 + i))) ? 1 : 0;
        }

        var concurrent = Enumerable.Range(0, 300).Select(i => FailsAsync(log.WriteAsync(Record(1000 + i)))).ToList();
        failed += (await Task.WhenAll(concurrent).DefaultTimeout()).Count(f => f);
        // The trail's own last page may still hold a few records; after it, the kernel refuses every byte.
        Assert.That(failed, Is.GreaterThan(300), "a full disk refuses records");
        Assert.That(log.IsWritable, Is.False, "the trail says it cannot write");

        File.Delete(filler);
        for (var i = 0; i < 5; i++)
        {
            await log.WriteAsync(Record(200 + i)).DefaultTimeout("a record once space is back");
        }

        Assert.That(log.IsWritable, Is.True);

        await log.DisposeAsync();
        var result = AuditVerifier.Verify(path);
        Assert.That(result.IsIntact, Is.True, result.Problem);
        var types = File.ReadAllLines(path).Select(l => l.Split("\"type\":\"")[1].Split('"')[0]).ToList();
        Assert.That(types.Count(t => t == "test.record"), Is.EqualTo(3 + (320 - failed) + 5), "every acknowledged record, and none of the refused ones");
        Assert.That(types, Has.One.EqualTo("audit.resumed"), "the trail says it could not be written for a while");
    }

    [Test]
    public async Task FullDisk_RecoversByItself_WithNoRecordWaiting()
    {
        var disk = await MountAsync(256 * 1024);
        var path = Path.Combine(disk.Folder, "audit.jsonl");
        var options = new AuditOptions { Path = path, GroupCommitWindow = TimeSpan.Zero, RetryInterval = TimeSpan.FromMilliseconds(100) };
        await using var log = new AuditLog(options, TimeProvider.System, NullLogger<AuditLog>.Instance);
        await log.WriteAsync(Record(0)).DefaultTimeout();
        var filler = disk.Fill();
        while (!await FailsAsync(log.WriteAsync(Record(1))))
        {
            // The trail's last page took it; the next one will not fit.
        }

        Assert.That(log.IsWritable, Is.False);
        File.Delete(filler);

        // Nobody writes: the trail tries the disk again by itself, and says so in the trail.
        var resumed = await AuditTrailFile.WaitForAsync(path, r => AuditTrailFile.TypeOf(r) == "audit.resumed");
        Assert.That(resumed.GetProperty("failed_records").GetInt64(), Is.GreaterThanOrEqualTo(1));
        await log.WriteAsync(Record(2)).DefaultTimeout();
        Assert.That(log.IsWritable, Is.True);
    }

    /// <summary>True when the write failed as the audit trail's own error, within the default timeout (a hang fails the test).</summary>
    private static async Task<bool> FailsAsync(Task write)
    {
        try
        {
            await write.DefaultTimeout("a record on a full disk");
            return false;
        }
        catch (AuditWriteException)
        {
            return true;
        }
    }

    private static AuditRecord Record(int n) =>
        new("test.record", new Dictionary<string, object?> { ["n"] = n, ["padding"] = new string('x', 400) });
}
