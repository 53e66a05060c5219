using System.Net;

namespace GitHubActionsPort.Agent.Forwarding.Failover;

/// <summary>
/// One broker the agent may use: the URL it was given (whose host name TLS checks the certificate against and sends
/// as SNI) and the address it connects to, one of those the host name resolved to. Null for a URL whose host is an
/// address already, or where nothing was resolved (a stand-in made for a single client).
/// </summary>
internal sealed record BrokerEndpoint(Uri Url, IPAddress? Address)
{
    /// <summary>How logs and <c>ghaport status</c> name it: the URL's authority, and the address when a name was resolved.</summary>
    public string Name =>
        Address is null || Url.HostNameType is UriHostNameType.IPv4 or UriHostNameType.IPv6
            ? Url.GetLeftPart(UriPartial.Authority)
            : $"{Url.GetLeftPart(UriPartial.Authority)} ({Address})";

    public override string ToString() => Name;
}
