using GitHubActionsPort.Broker.Configuration;

namespace GitHubActionsPort.Broker.Hosting;

/// <summary>
/// What <c>ghaport-broker dev</c> adds to the configuration: its development issuer, trusted, with every rule of the
/// configuration made to name its issuer, and (with <c>--target</c>) a rule <c>dev</c> letting the development
/// issuer's tokens of <c>acme/app</c> reach the given targets. <c>policy explain --dev</c> adds the same, so it
/// judges a token against the policy the dev broker runs.
/// </summary>
internal static class DevConfiguration
{
    public static Dictionary<string, string?> Overrides(string issuer, IReadOnlyList<KeyValuePair<string, string>> targets)
    {
        ArgumentNullException.ThrowIfNull(issuer);
        ArgumentNullException.ThrowIfNull(targets);
        var overrides = new Dictionary<string, string?>
        {
            ["Broker:Issuers:dev:Issuer"] = issuer,
            ["Broker:Issuers:dev:Audiences:0"] = "ghaport",

            // A rule of the configuration without an Issuer would judge every issuer's tokens, the dev issuer's too:
            // anyone on this host could then mint a token that satisfies a production rule.
            ["Broker:RequireRuleIssuers"] = "true",
        };

        if (targets.Count == 0)
        {
            return overrides;
        }

        overrides["Broker:Rules:dev:Name"] = "dev";
        overrides["Broker:Rules:dev:Issuer"] = issuer;
        overrides["Broker:Rules:dev:Claims:repository"] = "acme/app";
        for (var i = 0; i < targets.Count; i++)
        {
            overrides[$"Broker:Targets:{targets[i].Key}"] = targets[i].Value;
            overrides[$"Broker:Rules:dev:Targets:{i}"] = targets[i].Key;
        }

        return overrides;
    }

    /// <summary>
    /// Whether <paramref name="issuer"/> can be a development issuer: those listen on loopback only, over plain
    /// HTTP, at a port chosen as they start, so <c>policy explain --dev</c> learns it from the token.
    /// </summary>
    public static bool IsDevIssuer(string issuer) =>
        Uri.TryCreate(issuer, UriKind.Absolute, out var uri) && uri.Scheme == Uri.UriSchemeHttp && BrokerSettingsReader.IsLoopback(uri);
}
