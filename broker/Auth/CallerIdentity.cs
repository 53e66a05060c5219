using System.Text;

namespace GitHubActionsPort.Broker.Auth;

/// <summary>Who a validated id-token says the caller is: its issuer and its string-valued claims.</summary>
public sealed class CallerIdentity(
    string issuer,
    string subject,
    string tokenId,
    DateTimeOffset tokenExpiresAt,
    IReadOnlyDictionary<string, string> claims,
    IReadOnlySet<string>? nonStringClaims = null)
{
    /// <summary>The claims a person reads to recognise a GitHub Actions job, in the order they read them.</summary>
    private static readonly string[] DescriptiveClaims = ["repository", "ref", "environment", "workflow", "event_name"];

    public string Issuer { get; } = issuer;

    public string Subject { get; } = subject;

    public string TokenId { get; } = tokenId;

    public DateTimeOffset TokenExpiresAt { get; } = tokenExpiresAt;

    public IReadOnlyDictionary<string, string> Claims { get; } = claims;

    /// <summary>
    /// Names of claims the token carries with a value that is not a JSON string (a list, a number, an object):
    /// absent from <see cref="Claims"/>, yet not missing either.
    /// </summary>
    public IReadOnlySet<string> NonStringClaims { get; } = nonStringClaims ?? new HashSet<string>();

    /// <summary>Identity as the job would describe itself: <c>repository=acme/app ref=refs/heads/main ...</c>.</summary>
    public string Describe()
    {
        var text = new StringBuilder();
        foreach (var name in DescriptiveClaims)
        {
            if (text.Length > 0)
            {
                text.Append(' ');
            }

            // Claim values are the caller's own text: cleaned before they reach a log line or a reply.
            text.Append(name).Append('=').Append(Claims.TryGetValue(name, out var value) ? AuditText.Clean(value) : "(none)");
        }

        if (!Claims.ContainsKey("repository"))
        {
            text.Append(" sub=").Append(AuditText.Clean(Subject));
        }

        return text.ToString();
    }
}
