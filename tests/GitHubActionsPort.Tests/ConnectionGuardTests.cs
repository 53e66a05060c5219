using System.Net;
using GitHubActionsPort.Broker.Connections;
using Microsoft.Extensions.Logging.Abstractions;

namespace GitHubActionsPort.Tests;

/// <summary>
/// The connection guard's bookkeeping on its own: who is closed to make room, who never is, and the deadline. The
/// functional side (real listeners, real sockets, a real flood) is <see cref="Faults.ConnectionFloodTests"/>.
/// </summary>
public sealed class ConnectionGuardTests
{
    private static readonly IPEndPoint A = new(IPAddress.Parse("192.0.2.1"), 1000);
    private static readonly IPEndPoint B = new(IPAddress.Parse("192.0.2.2"), 1000);

    [Test]
    public void PerSourceCap_ClosesThatSourcesOldestUnproven_AndNoOtherSourcesConnection()
    {
        var guard = Guard(maxConnections: 8, perSource: 3);
        var closed = new List<string>();
        var b = guard.TryAdmit(B, _ => closed.Add("b"));
        for (var i = 0; i < 3; i++)
        {
            var name = "a" + i;
            guard.TryAdmit(A, _ => closed.Add(name));
        }

        var next = guard.TryAdmit(A, _ => closed.Add("a3"));

        Assert.That(next, Is.Not.Null);
        Assert.That(closed, Is.EqualTo((string[])["a0"]));
        Assert.That(guard.Count, Is.EqualTo(4));
        GC.KeepAlive(b);
    }

    [Test]
    public void PerSourceCap_BelowHalfTheLimit_LetsOneSourceBurst()
    {
        var guard = Guard(maxConnections: 100, perSource: 3);
        var closed = new List<string>();
        for (var i = 0; i < 10; i++)
        {
            Assert.That(guard.TryAdmit(A, _ => closed.Add("a")), Is.Not.Null);
        }

        Assert.That(closed, Is.Empty);
    }

    [Test]
    public void GlobalCap_ClosesTheOldestUnproven_NeverAProvenOne()
    {
        var guard = Guard(maxConnections: 3, perSource: 10);
        var closed = new List<string>();
        var agent = guard.TryAdmit(A, _ => closed.Add("agent"))!;
        agent.Prove();
        guard.TryAdmit(B, _ => closed.Add("b0"));
        guard.TryAdmit(B, _ => closed.Add("b1"));

        Assert.That(guard.TryAdmit(A, _ => closed.Add("a1")), Is.Not.Null);
        Assert.That(guard.TryAdmit(A, _ => closed.Add("a2")), Is.Not.Null);

        Assert.That(closed, Is.EqualTo((string[])["b0", "b1"]));
        Assert.That(guard.Count, Is.EqualTo(3));
    }

    [Test]
    public void GlobalCap_WithEveryConnectionProvenOrBusy_RefusesTheNewOne()
    {
        var guard = Guard(maxConnections: 2, perSource: 10);
        // Recorded, not asserted in the callback: a close runs on whatever thread closes, and a failed assertion
        // there (a prove deadline's timer, minutes after this test) would bring the whole test run down.
        var closed = new List<string>();
        var proven = guard.TryAdmit(A, _ => closed.Add("proven"))!;
        proven.Prove();
        var busy = guard.TryAdmit(B, _ => closed.Add("busy"))!;
        busy.RequestStarted();

        Assert.That(guard.TryAdmit(B, _ => { }), Is.Null);
        Assert.That(closed, Is.Empty, "neither a proven connection nor one with a request in flight is closed for a newcomer");

        busy.RequestEnded();
        proven.Dispose();
        using var admitted = guard.TryAdmit(B, _ => { });
        Assert.That(admitted, Is.Not.Null, "an ended connection frees its place");
        busy.Dispose();
    }

    [Test]
    public async Task Deadline_ClosesAnUnprovenConnection_AndSparesAProvenOne()
    {
        var guard = Guard(maxConnections: 10, perSource: 10, proveTimeout: TimeSpan.FromMilliseconds(100));
        var silent = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var agentClosed = false;
        var agent = guard.TryAdmit(A, _ => agentClosed = true)!;
        agent.Prove();
        guard.TryAdmit(B, reason => silent.TrySetResult(reason));

        var reason = await silent.Task.DefaultTimeout();

        Assert.That(reason, Does.Contain("did not prove itself").And.Contain("Broker:Transport:ProveTimeout"));
        Assert.That(agentClosed, Is.False);
        Assert.That(guard.Count, Is.EqualTo(1));
    }

    [Test]
    public async Task Deadline_WaitsForARequestInFlight_ThenClosesWhenItEnds()
    {
        var guard = Guard(maxConnections: 10, perSource: 10, proveTimeout: TimeSpan.FromMilliseconds(50), grace: TimeSpan.FromMinutes(5));
        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var connection = guard.TryAdmit(A, _ => closed.TrySetResult())!;
        connection.RequestStarted();
        var marker = guard.TryAdmit(B, _ => { })!;

        // The marker, admitted after it with no request, passing its deadline shows the first one's has passed too.
        while (guard.Count > 1)
        {
            await Task.Delay(10);
        }

        Assert.That(closed.Task.IsCompleted, Is.False, "a request in flight holds its connection open");
        connection.RequestEnded();
        await closed.Task.DefaultTimeout();
        GC.KeepAlive(marker);
    }

    [Test]
    public void IPv6Sources_CountPerSlash64()
    {
        var guard = Guard(maxConnections: 6, perSource: 2);
        var closed = new List<string>();
        guard.TryAdmit(new IPEndPoint(IPAddress.Parse("2001:db8:9::1"), 1), _ => closed.Add("filler"));
        guard.TryAdmit(new IPEndPoint(IPAddress.Parse("2001:db8:1:2::1"), 1), _ => closed.Add("first"));
        guard.TryAdmit(new IPEndPoint(IPAddress.Parse("2001:db8:1:2::2"), 1), _ => closed.Add("second"));
        guard.TryAdmit(new IPEndPoint(IPAddress.Parse("2001:db8:1:2:ffff::3"), 1), _ => closed.Add("third"));
        guard.TryAdmit(new IPEndPoint(IPAddress.Parse("2001:db8:1:3::1"), 1), _ => closed.Add("other /64"));

        Assert.That(closed, Is.EqualTo((string[])["first"]));
    }

    private static ConnectionGuard Guard(int maxConnections, int perSource, TimeSpan? proveTimeout = null, TimeSpan? grace = null) =>
        new(
            new ConnectionGuardOptions
            {
                Name = "test",
                MaxConnections = maxConnections,
                MaxUnprovenPerSource = perSource,
                ProveTimeout = proveTimeout ?? TimeSpan.FromMinutes(5),
                RequestGrace = grace ?? TimeSpan.FromMinutes(5),
            },
            TimeProvider.System,
            NullLogger.Instance);
}
