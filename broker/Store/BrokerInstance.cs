using System.Security.Cryptography;
using System.Text;

namespace GitHubActionsPort.Broker.Store;

/// <summary>
/// This broker process as the store and its peers know it: an id new at every start (a restarted process is a new
/// instance; the old one is gone or lost), and where it listens once it does.
/// </summary>
internal sealed class BrokerInstance(TimeProvider time)
{
    /// <summary><c>ins_HOST_RANDOM</c>: the host for people reading <c>sessions list</c>, the random part for uniqueness.</summary>
    public string Id { get; } = $"ins_{HostPart()}_{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}";

    public DateTimeOffset StartedAt { get; } = time.GetUtcNow();

    /// <summary>The addresses it listens on, once it does (empty before).</summary>
    public string Address { get; set; } = string.Empty;

    /// <summary>The host name in letters, digits and dashes, at most 32 of them.</summary>
    private static string HostPart()
    {
        var name = new StringBuilder();
        foreach (var c in Environment.MachineName)
        {
            if (name.Length == 32)
            {
                break;
            }

            name.Append(char.IsAsciiLetterOrDigit(c) ? char.ToLowerInvariant(c) : '-');
        }

        return name.Length > 0 ? name.ToString() : "host";
    }
}
