using GitHubActionsPort.Agent.Forwarding;
using Microsoft.Extensions.Logging.Abstractions;

namespace GitHubActionsPort.Tests;

/// <summary>
/// A due timer queues its callback, and a busy thread pool can run it after a reopen or a renewal has already moved
/// the lease's end: that late callback must not end the lease now in force (a CI job's tunnels would die at once,
/// and the agent would stop renewing a lease the broker just granted).
/// </summary>
public sealed class LeaseExpiryRaceTests : BrokerClientFixture
{
    [Test]
    public async Task ExpiryCallbackRunningAfterAReopen_DoesNotEndTheNewLease()
    {
        var time = new HeldTimers();
        var first = await OpenAsync();
        using var keeper = new LeaseKeeper(Client, CopyOfSessionKey(), first, _ => Task.FromResult(Issuer.MintToken("ghaport")), null, time, NullLogger.Instance, broker: Broker.Address);

        // The lease is replaced by a new session (as when the broker lost it), and only then does the old lease's
        // timer callback, queued before, get to run.
        Assert.That(await keeper.RecoverAsync(first, TaskTimeouts.Default, CancellationToken.None).DefaultTimeout(), Is.Null);
        Assert.That(keeper.Current.LeaseId, Is.Not.EqualTo(first.LeaseId));
        time.Expiry.RunCallback();

        Assert.That(keeper.Ended.IsCancellationRequested, Is.False, "the lease in force has most of its time left");
        Assert.That(time.Expiry.DueTime, Is.GreaterThan(TimeSpan.FromSeconds(30)), "the timer waits for the new lease's end");
    }

    [Test]
    public async Task ExpiryCallbackWhenTheLeaseHasRunOut_EndsIt_AndNoReopenCanReplaceItAfter()
    {
        var time = new HeldTimers();
        var first = await OpenAsync();
        using var keeper = new LeaseKeeper(Client, CopyOfSessionKey(), first, _ => Task.FromResult(Issuer.MintToken("ghaport")), null, time, NullLogger.Instance, broker: Broker.Address);

        time.Advance(first.Ttl.ToTimeSpan() + TimeSpan.FromSeconds(1));
        time.Expiry.RunCallback();

        Assert.That(keeper.Ended.IsCancellationRequested, Is.True);
        Assert.That(await keeper.RecoverAsync(first, TaskTimeouts.Default, CancellationToken.None).DefaultTimeout(), Does.Contain("expired"));
        Assert.That(keeper.Current.LeaseId, Is.EqualTo(first.LeaseId));
    }

    private async Task<Protocol.V1.Lease> OpenAsync() =>
        await SessionOpener.OpenAsync(Client, Broker.Address, Issuer.MintToken("ghaport"), SessionKey.ExportSubjectPublicKeyInfo(), ["echo"], TimeSpan.FromMinutes(5), TaskTimeouts.Default, CancellationToken.None).DefaultTimeout();

    /// <summary>The keeper disposes its key; the fixture's key serves every test.</summary>
    private System.Security.Cryptography.ECDsa CopyOfSessionKey()
    {
        var copy = System.Security.Cryptography.ECDsa.Create();
        copy.ImportParameters(SessionKey.ExportParameters(includePrivateParameters: true));
        return copy;
    }

    /// <summary>Real time plus an offset the test moves; timers that never fire by themselves, only when the test says.</summary>
    private sealed class HeldTimers : TimeProvider
    {
        private long _offset;

        public HeldTimer Expiry { get; private set; } = null!;

        public void Advance(TimeSpan by) => Interlocked.Add(ref _offset, (long)(by.TotalSeconds * TimestampFrequency));

        public override long GetTimestamp() => base.GetTimestamp() + Interlocked.Read(ref _offset);

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            var timer = new HeldTimer(callback, state, dueTime);
            Expiry ??= timer;
            return timer;
        }
    }

    private sealed class HeldTimer(TimerCallback callback, object? state, TimeSpan dueTime) : ITimer
    {
        public TimeSpan DueTime { get; private set; } = dueTime;

        public void RunCallback() => callback(state);

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            DueTime = dueTime;
            return true;
        }

        public void Dispose()
        {
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
