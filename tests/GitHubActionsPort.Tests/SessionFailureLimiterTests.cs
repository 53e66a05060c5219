using System.Net;
using GitHubActionsPort.Broker.Auth;
using GitHubActionsPort.Broker.Configuration;

namespace GitHubActionsPort.Tests;

/// <summary>
/// The per-address allowance of rejected id-tokens on a clock the test moves: it empties, refills over its window,
/// gives back what was not a rejection, and remembers a bounded number of addresses. The functional side is
/// <see cref="Faults.ConnectionFloodTests.RejectedTokenFlood_FromOneAddress_IsRefusedUnread_WhileAnotherAddressIsServed"/>.
/// </summary>
public sealed class SessionFailureLimiterTests
{
    private static readonly IPAddress Caller = IPAddress.Parse("198.51.100.7");

    [Test]
    public void Allowance_Empties_ThenRefillsOverItsWindow()
    {
        var time = new ManualTime();
        var limiter = Limiter(time, failures: 3, window: TimeSpan.FromMinutes(1));
        for (var i = 0; i < 3; i++)
        {
            Assert.That(limiter.TryTake(Caller, out _), Is.True);
        }

        Assert.That(limiter.TryTake(Caller, out var retryAfter), Is.False);
        Assert.That(retryAfter, Is.EqualTo(TimeSpan.FromSeconds(20)));
        Assert.That(limiter.TryTake(IPAddress.Parse("198.51.100.8"), out _), Is.True, "another address has its own allowance");

        time.Advance(TimeSpan.FromSeconds(20));
        Assert.That(limiter.TryTake(Caller, out _), Is.True);
        Assert.That(limiter.TryTake(Caller, out _), Is.False);
    }

    [Test]
    public void Return_GivesBackAnAttemptThatWasNoRejection()
    {
        var limiter = Limiter(new ManualTime(), failures: 1, window: TimeSpan.FromMinutes(1));
        for (var i = 0; i < 10; i++)
        {
            Assert.That(limiter.TryTake(Caller, out _), Is.True);
            limiter.Return(Caller);
        }
    }

    [Test]
    public void IPv6_CountsPerSlash64()
    {
        var limiter = Limiter(new ManualTime(), failures: 1, window: TimeSpan.FromMinutes(1));
        Assert.That(limiter.TryTake(IPAddress.Parse("2001:db8:1:2::1"), out _), Is.True);
        Assert.That(limiter.TryTake(IPAddress.Parse("2001:db8:1:2:abcd::9"), out _), Is.False);
        Assert.That(limiter.TryTake(IPAddress.Parse("2001:db8:1:3::1"), out _), Is.True);
    }

    [Test]
    public void ManyAddresses_TheTableStaysBounded()
    {
        var limiter = Limiter(new ManualTime(), failures: 5, window: TimeSpan.FromMinutes(1));
        for (var i = 0; i < SessionFailureLimiter.MaxSources + 1_000; i++)
        {
            limiter.TryTake(new IPAddress(BitConverter.GetBytes(0x0A000000 + i)), out _);
        }

        Assert.That(limiter.Count, Is.LessThanOrEqualTo(SessionFailureLimiter.MaxSources));
    }

    private static SessionFailureLimiter Limiter(TimeProvider time, int failures, TimeSpan window) =>
        new(
            new BrokerSettings
            {
                Issuers = [],
                Targets = new Dictionary<string, TargetAddress>(),
                Rules = [],
                Transport = new TransportSettings { MaxSessionFailuresPerSource = failures, SessionFailureWindow = window },
            },
            time);

    /// <summary>A clock that moves only when told.</summary>
    private sealed class ManualTime : TimeProvider
    {
        private long _ticks;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => _ticks;

        public void Advance(TimeSpan by) => _ticks += by.Ticks;
    }
}
