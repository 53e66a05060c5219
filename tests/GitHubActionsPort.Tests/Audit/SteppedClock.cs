namespace GitHubActionsPort.Tests.Audit;

/// <summary>A clock the test moves by hand; its timers are the system's (long enough not to fire within a test).</summary>
internal sealed class SteppedClock(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset _now = start;

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}
