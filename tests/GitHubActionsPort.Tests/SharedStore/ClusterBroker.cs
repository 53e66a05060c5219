using System.Net;

namespace GitHubActionsPort.Tests.SharedStore;

/// <summary>One broker process of a <see cref="BrokerCluster"/>, with the addresses it printed at start.</summary>
internal sealed class ClusterBroker(string name, ChildProcess process, Uri address, IPEndPoint rawLane, Uri admin, string auditPath) : IAsyncDisposable
{
    public string Name { get; } = name;

    public ChildProcess Process { get; } = process;

    /// <summary>Its own gRPC port (the agent reaches it through the balancer).</summary>
    public Uri Address { get; } = address;

    public IPEndPoint GrpcEndPoint => new(IPAddress.Loopback, Address.Port);

    /// <summary>Its own raw-lane port (it advertises the balancer's).</summary>
    public IPEndPoint RawLane { get; } = rawLane;

    public Uri Admin { get; } = admin;

    public string AuditPath { get; } = auditPath;

    /// <summary>Kills it with SIGKILL: no drain, no goodbye to the store, as a crash or an OOM kill.</summary>
    public async Task KillAsync()
    {
        Process.Kill();
        await Process.WaitForExitAsync().ConfigureAwait(false);
    }

    /// <summary>Waits until its log shows a line containing <paramref name="text"/> (the <paramref name="occurrence"/>th).</summary>
    public Task<string> WaitForLogAsync(string text, int occurrence = 1) =>
        Process.WaitForOutputAsync(line => line.Contains(text, StringComparison.Ordinal), occurrence);

    public int CountLog(string text) => Process.Output.Lines.Count(line => line.Contains(text, StringComparison.Ordinal));

    public ValueTask DisposeAsync() => Process.DisposeAsync();
}
