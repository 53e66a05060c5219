using System.Security.Cryptography;
using GitHubActionsPort.Broker.Auth;
using GitHubActionsPort.Broker.Leases;

namespace GitHubActionsPort.Tests;

/// <summary>
/// A lease remembers its recent proofs to refuse replays: a busy job gets room for tens of thousands of calls a
/// minute, past that it is told to slow down (not that its proof was replayed), and old proofs age out.
/// </summary>
public sealed class ProofNonceTests
{
    [Test]
    public void ProofNonces_ReplayIsRefused_FloodIsTooMany_AndRoomReturnsAsTheyAgeOut()
    {
        var time = new SteppedTime(DateTimeOffset.Parse("2026-11-27T12:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caller = new CallerIdentity("https://issuer", "repo:acme/app", "jti", time.GetUtcNow().AddMinutes(5), new Dictionary<string, string>());
        using var lease = new Lease("lse_test", caller, new HashSet<string> { "echo" }, TimeSpan.FromHours(1), TimeSpan.FromHours(1), 16, key, "thumbprint", time);

        Assert.That(lease.TryUseProofNonce("first", time.GetUtcNow()), Is.EqualTo(ProofNonceUse.Fresh));
        Assert.That(lease.TryUseProofNonce("first", time.GetUtcNow()), Is.EqualTo(ProofNonceUse.Replayed));
        for (var i = 1; i < Lease.MaxRememberedProofs; i++)
        {
            Assert.That(lease.TryUseProofNonce($"n{i}", time.GetUtcNow()), Is.EqualTo(ProofNonceUse.Fresh), $"proof {i}");
        }

        Assert.That(lease.TryUseProofNonce("one-too-many", time.GetUtcNow()), Is.EqualTo(ProofNonceUse.TooMany));

        // Past the proofs' window they cannot be replayed anyway: forgotten, and there is room again.
        time.Advance(TimeSpan.FromSeconds(61));
        Assert.That(lease.TryUseProofNonce("later", time.GetUtcNow()), Is.EqualTo(ProofNonceUse.Fresh));
    }

    private sealed class SteppedTime(DateTimeOffset start) : TimeProvider
    {
        private DateTimeOffset _now = start;

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }
}
