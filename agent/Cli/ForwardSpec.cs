using System.Globalization;
using System.Net;
using GitHubActionsPort.Protocol;

namespace GitHubActionsPort.Agent.Cli;

/// <summary>One <c>--forward [BIND:]PORT:TARGET</c>: a local address to listen on and the target name behind it.</summary>
public sealed record ForwardSpec(IPEndPoint Listen, string Target)
{
    /// <summary>
    /// Whether only this machine can connect: 127.0.0.0/8 or ::1 (<c>localhost</c> reads as 127.0.0.1). Any other
    /// address, 0.0.0.0 and :: above all, lets other machines use the lease, which takes <c>--allow-remote-clients</c>.
    /// </summary>
    public bool IsLoopback => IPAddress.IsLoopback(Listen.Address.IsIPv4MappedToIPv6 ? Listen.Address.MapToIPv4() : Listen.Address);

    /// <summary>Parses the flag's value. Without BIND it listens on 127.0.0.1: another address only when asked.</summary>
    public static ForwardSpec Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var targetColon = text.LastIndexOf(':');
        if (targetColon <= 0)
        {
            throw Invalid(text, "expected [BIND:]PORT:TARGET, for example 5432:prod-db");
        }

        var target = text[(targetColon + 1)..];
        var head = text[..targetColon];
        var portColon = head.LastIndexOf(':');
        var portText = portColon < 0 ? head : head[(portColon + 1)..];
        var bindText = portColon < 0 ? null : head[..portColon];

        if (!TargetName.IsValid(target))
        {
            throw Invalid(text, $"'{target}' is not a target name ({TargetName.Rule})");
        }

        if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > 65535)
        {
            throw Invalid(text, $"'{portText}' is not a port from 0 to 65535 (0 picks a free one)");
        }

        var address = IPAddress.Loopback;
        if (bindText is not null)
        {
            var trimmed = bindText.StartsWith('[') && bindText.EndsWith(']') ? bindText[1..^1] : bindText;
            if (trimmed == "localhost")
            {
                address = IPAddress.Loopback;
            }
            else if (!TryParseAddress(trimmed, out address!))
            {
                throw Invalid(text, $"'{bindText}' is not an IP address to listen on (IPv6 in brackets: [::1])");
            }
        }

        return new ForwardSpec(new IPEndPoint(address, port), target);
    }

    /// <summary>
    /// Only the full forms: IPAddress.TryParse also takes "1.2.3" (as 1.2.0.3) and "10" (as 0.0.0.10), and a
    /// listener on an address nobody meant is worse than an error.
    /// </summary>
    private static bool TryParseAddress(string text, out IPAddress? address)
    {
        address = null;
        var fullIPv4 = text.Split('.') is { Length: 4 } parts && parts.All(p => p.Length is > 0 and <= 3 && p.All(char.IsAsciiDigit));
        return (fullIPv4 || text.Contains(':', StringComparison.Ordinal)) && IPAddress.TryParse(text, out address);
    }

    private static ArgumentException Invalid(string text, string why) => new($"--forward '{text}': {why}");
}
