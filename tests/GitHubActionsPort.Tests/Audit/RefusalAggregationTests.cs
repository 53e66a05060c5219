using System.Text.Json;
using GitHubActionsPort.Broker.Audit;
using Microsoft.Extensions.Logging.Abstractions;

namespace GitHubActionsPort.Tests.Audit;

/// <summary>
/// Refused id-tokens cannot grow the trail without bound: a flood from one peer, or from many, becomes a bounded
/// number of <c>session.rejected</c> records whose counts add up to every refusal.
/// </summary>
public sealed class RefusalAggregationTests
{
    private string _folder = null!;

    private string TrailPath => Path.Combine(_folder, "audit.jsonl");

    [SetUp]
    public void CreateFolder() => _folder = Directory.CreateTempSubdirectory("ghaport-refusals-").FullName;

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    [Test]
    public async Task TenThousandRefusals_FromOnePeer_AreAFewRecords_ThatCountThemAll()
    {
        var clock = new SteppedClock(new DateTimeOffset(2026, 1, 1, 12, 0, 0, TimeSpan.Zero));
        var options = new AuditOptions { Path = TrailPath, RefusalInterval = TimeSpan.FromMinutes(1) };
        await using (var log = new AuditLog(options, clock, NullLogger<AuditLog>.Instance))
        await using (var refusals = new RefusalAggregator(log, options, clock, NullLogger<RefusalAggregator>.Instance))
        {
            var trail = new AuditTrail(log, refusals);
            for (var i = 0; i < 10_000; i++)
            {
                // Each from a new connection (port), 10 ms apart: 100 s, so two intervals.
                var refused = trail.TokenRejectedAsync($"ipv4:203.0.113.7:{40000 + (i % 20000)}", "the id-token's signature is not valid", $"iss=\"x\", jti=\"{i}\"");
                Assert.That(refused.IsCompleted, Is.True, "a refusal never waits for the disk");
                clock.Advance(TimeSpan.FromMilliseconds(10));
            }
        }

        var rejected = Records().Where(r => r.GetProperty("type").GetString() == "session.rejected").ToList();
        Assert.That(rejected, Has.Count.EqualTo(4), "per interval: the first refusal at once, the rest as one count");
        Assert.That(rejected.Sum(r => r.GetProperty("count").GetInt64()), Is.EqualTo(10_000));
        Assert.That(rejected.Select(r => r.GetProperty("peer").GetString()).Distinct().Single(), Is.EqualTo("203.0.113.7"), "grouped by address, whatever the port");
        Assert.That(rejected[0].GetProperty("claimed").GetString(), Is.EqualTo("iss=\"x\", jti=\"0\""), "the first says who the token claimed to be");
        Assert.That(rejected[1].TryGetProperty("since", out _), Is.True, "a count says since when");
        Assert.That(AuditVerifier.Verify(TrailPath).IsIntact, Is.True);
    }

    [Test]
    public async Task RefusalsFromManyPeers_AreHeldInABoundedNumberOfGroups()
    {
        var clock = new SteppedClock(new DateTimeOffset(2026, 1, 1, 12, 0, 0, TimeSpan.Zero));
        var options = new AuditOptions { Path = TrailPath, MaxRefusalGroups = 10 };
        await using (var log = new AuditLog(options, clock, NullLogger<AuditLog>.Instance))
        await using (var refusals = new RefusalAggregator(log, options, clock, NullLogger<RefusalAggregator>.Instance))
        {
            for (var round = 0; round < 3; round++)
            {
                for (var peer = 0; peer < 1000; peer++)
                {
                    refusals.Record($"ipv6:[2001:db8::{peer:x}]:443", "the id-token is not a well-formed JWT", claimed: null);
                }
            }
        }

        var rejected = Records().Where(r => r.GetProperty("type").GetString() == "session.rejected").ToList();
        Assert.That(rejected, Has.Count.LessThanOrEqualTo(2 * (10 + 1)), "ten groups and one overflow group, each at most twice per interval");
        Assert.That(rejected.Sum(r => r.GetProperty("count").GetInt64()), Is.EqualTo(3000));
        Assert.That(rejected, Has.Some.Matches<JsonElement>(r => r.GetProperty("peer").GetString() == RefusalAggregator.OverflowPeer));
        Assert.That(rejected, Has.Some.Matches<JsonElement>(r => r.GetProperty("peer").GetString() == "2001:db8::0"));
    }

    [TestCase("ipv4:203.0.113.7:50123", "203.0.113.7")]
    [TestCase("ipv6:[2001:db8::1]:50123", "2001:db8::1")]
    [TestCase("unix:/run/ghaport.sock", "unix:/run/ghaport.sock")]
    [TestCase("unknown", "unknown")]
    public void Peer_IsGroupedByAddress(string peer, string address) =>
        Assert.That(RefusalAggregator.AddressOf(peer), Is.EqualTo(address));

    private List<JsonElement> Records() => [.. AuditTrailFile.Read(TrailPath)];
}
