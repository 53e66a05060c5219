namespace GitHubActionsPort.Agent.Forwarding;

/// <summary>What an agent run needs from its surroundings; the process passes the real ones, tests their own.</summary>
public sealed record AgentContext
{
    /// <summary>Where the <c>ready</c> lines go (standard output).</summary>
    public required TextWriter Out { get; init; }

    public required ILoggerFactory LoggerFactory { get; init; }

    /// <summary>Reads an environment variable.</summary>
    public Func<string, string?> Environment { get; init; } = System.Environment.GetEnvironmentVariable;

    public AgentTransport Transport { get; init; } = new();

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>
    /// Resolves a broker's host name to its addresses, each a broker of its own (default: the system resolver). A
    /// test may name hosts of its own.
    /// </summary>
    public Func<string, CancellationToken, Task<System.Net.IPAddress[]>> ResolveHost { get; init; } = System.Net.Dns.GetHostAddressesAsync;

    /// <summary>Where the forwards' totals are kept; a test may hold on to it to read them.</summary>
    public ForwardStats Stats { get; init; } = new();
}
