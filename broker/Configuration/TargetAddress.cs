using System.Net;

namespace GitHubActionsPort.Broker.Configuration;

/// <summary>Where a named target lives. Only the broker's configuration says this; never a client.</summary>
/// <param name="Host">A host name, resolved each time the target is dialled, or a literal IP address, dialled as written.</param>
/// <param name="Port">TCP port, 1-65535.</param>
public sealed record TargetAddress(string Host, int Port)
{
    /// <summary>
    /// Whether a host name may resolve to a loopback, link-local or cloud-metadata address
    /// (<c>Targets:NAME:AllowPrivateAddresses</c>). Default: false, so a DNS record pointed at the broker's own
    /// host or at the metadata service cannot turn a target into a way into them.
    /// </summary>
    public bool AllowPrivateAddresses { get; init; }

    /// <summary>The host as a literal IP address, or null when it is a name to resolve.</summary>
    public IPAddress? LiteralAddress => IPAddress.TryParse(Host, out var ip) ? ip : null;

    public override string ToString() => Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]:{Port}" : $"{Host}:{Port}";
}
