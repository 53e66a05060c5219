using GitHubActionsPort.Broker.Store;

namespace GitHubActionsPort.Broker.Draining;

internal static partial class DrainLog
{
    [LoggerMessage(160, LogLevel.Information, "Draining: the broker is stopping; new sessions and tunnels are refused, {Open} open tunnels may run on for up to {DrainSeconds:0.#} s (Broker:Transport:DrainTimeout)", EventName = "DrainBegun")]
    public static partial void Begun(ILogger logger, int open, double drainSeconds);

    [LoggerMessage(161, LogLevel.Information, "Draining: {Finished} tunnels finished, {Open} still open, {LeftSeconds:0} s left", EventName = "DrainProgress")]
    public static partial void Progress(ILogger logger, int finished, int open, double leftSeconds);

    [LoggerMessage(162, LogLevel.Information, "Drained: {Finished} tunnels finished, none was cut", EventName = "DrainFinished")]
    public static partial void Finished(ILogger logger, int finished);

    [LoggerMessage(163, LogLevel.Warning, "Drain timeout passed: {Finished} tunnels finished, {Open} still open are ended (the broker is stopping)", EventName = "DrainTimedOut")]
    public static partial void TimedOut(ILogger logger, int finished, int open);

    [LoggerMessage(164, LogLevel.Warning, "{Open} tunnels had not recorded their end {WaitSeconds:0} s after they were ended; the broker stops anyway", EventName = "DrainEndsUnrecorded")]
    public static partial void EndsUnrecorded(ILogger logger, int open, double waitSeconds);

    [LoggerMessage(165, LogLevel.Debug, "Instance {InstanceId} recorded as {State} in the store", EventName = "InstanceStateRecorded")]
    public static partial void StateRecorded(ILogger logger, string instanceId, InstanceState state);

    // A warning, not an error: the stop goes on, and an instance that stops without saying so is found by its
    // missed heartbeats.
    [LoggerMessage(166, LogLevel.Warning, "Instance {InstanceId} not recorded as {State} in the store: {Reason}", EventName = "InstanceStateNotRecorded")]
    public static partial void StateNotRecorded(ILogger logger, string instanceId, InstanceState state, string reason);

    [LoggerMessage(167, LogLevel.Warning, "The host's shutdown timeout passed while draining; {Open} tunnels still open are ended", EventName = "DrainCutShort")]
    public static partial void CutShort(ILogger logger, int open);
}
