using System.Net;
using GitHubActionsPort.Agent.Forwarding.Failover;
using GitHubActionsPort.Protocol;
using Grpc.Core;
using Lease = GitHubActionsPort.Protocol.V1.Lease;

namespace GitHubActionsPort.Tests;

/// <summary>
/// The route among several brokers: a broker that is gone moves it to the next once however many calls report it,
/// the move is said once, a broker that failed is skipped for a while and used again after, and when every broker is
/// down the callers are told so instead of trying round and round.
/// </summary>
public sealed class BrokerRouteTests
{
    [Test]
    public async Task ManyCallsFindingOneBrokerGone_MoveTheRouteOnce_AndSaySoOnce()
    {
        var logs = new LogSink();
        using var route = Route(logs, new ManualClock(), "10.0.0.1", "10.0.0.2", "10.0.0.3");
        var failed = route.Current;

        var answers = await Task.WhenAll(Enumerable.Range(0, 32).Select(_ => Task.Run(() => route.Fail(failed, "connection refused", "lse_x"))));

        Assert.That(answers, Has.All.True, "every caller may go again, on the broker the route moved to");
        Assert.That(route.Current.Index, Is.EqualTo(1), "one move, not one per caller");
        var said = logs.Entries.Where(e => e.EventId.Name == "BrokerSwitched").ToList();
        Assert.That(said, Has.Count.EqualTo(1));
        Assert.That(said[0].Level, Is.EqualTo(LogLevel.Warning));
        Assert.That(said[0].Message, Is.EqualTo("Broker https://brokers.internal:8470 (10.0.0.1) unreachable (connection refused); using broker https://brokers.internal:8470 (10.0.0.2) for lease lse_x"));
    }

    [Test]
    public void EveryBrokerDown_CallersAreToldSo_SaidOnce_AndTheRouteStillGoesRound()
    {
        var logs = new LogSink();
        using var route = Route(logs, new ManualClock(), "10.0.0.1", "10.0.0.2");

        Assert.That(route.Fail(route.Current, "refused", "lse_x"), Is.True);
        Assert.That(route.Fail(route.Current, "refused", "lse_x"), Is.False, "both down: nothing worth trying at once");
        Assert.That(route.Current.Index, Is.Zero, "round again to the first, for the next call to try");
        Assert.That(route.Fail(route.Current, "refused", "lse_x"), Is.False);

        Assert.That(logs.Entries.Count(e => e.EventId.Name == "BrokerSwitched"), Is.EqualTo(1));
        Assert.That(logs.Entries.Count(e => e.EventId.Name == "BrokersAllDown"), Is.EqualTo(1), "said once until a broker answers again");
    }

    [Test]
    public void FailedBroker_IsSkipped_ThenUsedAgainWhenTheCurrentOneFails()
    {
        var clock = new ManualClock();
        using var route = Route(new LogSink(), clock, "10.0.0.1", "10.0.0.2");
        Assert.That(route.Fail(route.Current, "refused", "lse_x"), Is.True);
        Assert.That(route.Current.Index, Is.EqualTo(1));

        clock.Advance(BrokerRoute.FirstSkip * 2);

        Assert.That(route.Fail(route.Current, "draining", "lse_x"), Is.True, "the first broker's skip is over: it is worth trying again");
        Assert.That(route.Current.Index, Is.Zero);
    }

    [Test]
    public void RepeatedFailures_SkipLonger_UpToTheBound()
    {
        var clock = new ManualClock();
        using var route = Route(new LogSink(), clock, "10.0.0.1", "10.0.0.2");
        Assert.That(route.Fail(route.Current, "refused", "lse_x"), Is.True);               // the first skipped about a second; on the second
        clock.Advance(TimeSpan.FromSeconds(2));
        Assert.That(route.Fail(route.Current, "refused", "lse_x"), Is.True);               // the second skipped about a second; back on the first
        Assert.That(route.Fail(route.Current, "refused", "lse_x"), Is.False);              // the first's second failure in a row: about two seconds

        // Past a first failure's skip (at most 1.2 s) but not a second's (at least 1.6 s): only the second broker is back.
        clock.Advance(TimeSpan.FromSeconds(1.4));
        Assert.That(route.Current.Index, Is.EqualTo(1));
        Assert.That(route.Fail(route.Current, "refused", "lse_x"), Is.False, "the first broker, failed twice in a row, is still skipped");

        clock.Advance(BrokerRoute.MaxSkip * 1.25);
        Assert.That(route.Fail(route.Current, "refused", "lse_x"), Is.True, "no skip outlasts the bound");
    }

    [Test]
    public void AFailureHeardAfterTheRouteMoved_DoesNotMoveItAgain()
    {
        var logs = new LogSink();
        using var route = Route(logs, new ManualClock(), "10.0.0.1", "10.0.0.2", "10.0.0.3");
        var stale = route.Current;
        route.Fail(stale, "refused", "lse_x");
        var now = route.Current;

        Assert.That(route.Fail(stale, "reset", "lse_x"), Is.True);

        Assert.That(route.Current, Is.EqualTo(now));
        Assert.That(logs.Entries.Count(e => e.EventId.Name == "BrokerSwitched"), Is.EqualTo(1));
    }

    [Test]
    public void OneBroker_NeverMoves_AndSaysNothing()
    {
        var logs = new LogSink();
        using var route = Route(logs, new ManualClock(), "10.0.0.1");

        Assert.That(route.Fail(route.Current, "refused", "lse_x"), Is.False);
        Assert.That(route.Current.Index, Is.Zero);
        Assert.That(logs.Entries.Where(e => e.EventId.Name is "BrokerSwitched" or "BrokersAllDown"), Is.Empty, "a lone broker that is away is said as before, per connection");
    }

    [Test]
    public void RawLanePort_IsWhatEachBrokerAdvertised_ElseTheLeases()
    {
        using var route = Route(new LogSink(), new ManualClock(), "10.0.0.1", "10.0.0.2");
        var lease = new Lease { LeaseId = "lse_x", RawLanePort = 8472 };

        route.Learned(route.At(0), new Lease { LeaseId = "lse_x", RawLanePort = 9000 });

        Assert.That(route.RawLanePort(route.At(0), lease), Is.EqualTo(9000));
        Assert.That(route.RawLanePort(route.At(1), lease), Is.EqualTo(8472), "a broker never asked is dialled at the port the lease got");
    }

    [TestCase(StatusCode.Unavailable, "the broker is draining (stopping); open new tunnels through another instance", "it is draining")]
    [TestCase(StatusCode.Unavailable, "the broker is stopping", "the broker is stopping")]
    [TestCase(StatusCode.Unavailable, "the broker cannot record sessions in its audit trail right now; try again later", "audit trail")]
    [TestCase(StatusCode.DeadlineExceeded, "Deadline Exceeded", "Deadline")]
    public void BrokerGone_CoversOutagesAndDraining(StatusCode code, string detail, string cause)
    {
        Assert.That(BrokerGone.Cause(new Status(code, detail)), Does.Contain(cause));
    }

    [Test]
    public void BrokerGone_CoversALostConnection_AndTheDrainingRefusal()
    {
        Assert.That(BrokerGone.Cause(new Status(StatusCode.Internal, "Error starting gRPC call", new HttpRequestException("Connection reset by peer"))), Does.Contain("reset"));
        Assert.That(BrokerGone.Cause(BrokerDraining.Refusal(BrokerDraining.TunnelDetail).Status), Is.EqualTo("it is draining"));
    }

    [TestCase(StatusCode.PermissionDenied, "target 'echo' is not permitted")]
    [TestCase(StatusCode.Unauthenticated, "the lease is unknown or has ended; open a new session")]
    [TestCase(StatusCode.Unauthenticated, "id-token rejected: expired")]
    [TestCase(StatusCode.ResourceExhausted, "lease lse_x has 16 connections open")]
    [TestCase(StatusCode.Internal, "the target refused the connection")]
    public void BrokerGone_LeavesTheBrokersOwnAnswers(StatusCode code, string detail)
    {
        Assert.That(BrokerGone.Cause(new Status(code, detail)), Is.Null, "another broker of the same deployment would answer the same");
    }

    private static BrokerRoute Route(LogSink logs, TimeProvider clock, params string[] addresses) =>
        new(
            addresses.Select(a => new BrokerEndpoint(new Uri("https://brokers.internal:8470"), IPAddress.Parse(a))).ToList(),
            _ => (null, new NoBroker()),
            clock,
            logs.CreateLogger("ghaport"));

    /// <summary>Never called: the route only hands clients out.</summary>
    private sealed class NoBroker : Protocol.V1.Broker.BrokerClient;

    /// <summary>A monotonic clock the test moves by hand.</summary>
    private sealed class ManualClock : TimeProvider
    {
        private long _ticks = TimeSpan.TicksPerDay;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => _ticks;

        public void Advance(TimeSpan by) => _ticks += by.Ticks;
    }
}
