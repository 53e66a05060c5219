using GitHubActionsPort.Protocol.Tunnels;

namespace GitHubActionsPort.Agent.Forwarding;

/// <summary>The broker's side of one open tunnel, on whichever lane carries it.</summary>
internal interface ITunnelLink : IAsyncDisposable
{
    /// <summary>The lane's name for logs: <c>raw</c> or <c>grpc</c>.</summary>
    string Lane { get; }

    /// <summary>Carries <paramref name="local"/>'s bytes both ways until both directions end or one fails.</summary>
    Task<SpliceResult> SpliceAsync(TunnelSocket local, CancellationToken cancellationToken);

    /// <summary>Why the broker's side failed, in the broker's own words when it sent any.</summary>
    string WhyBrokerFailed(SpliceResult result);

    /// <summary>Resets the broker's side, so the target sees an error rather than a clean end.</summary>
    void Reset();

    /// <summary>Hangs up at once and waits for the broker to do the same: null when it did cleanly, else why not.</summary>
    Task<string?> HangUpAsync(CancellationToken cancellationToken);
}
