namespace GitHubActionsPort.Broker.Configuration;

/// <summary>An OIDC issuer whose id-tokens the broker accepts (<c>Broker:Issuers:N</c>).</summary>
public sealed record IssuerSettings
{
    /// <summary>The exact <c>iss</c> value; discovery is read from <c>{Issuer}/.well-known/openid-configuration</c>.</summary>
    public required string Issuer { get; init; }

    /// <summary>Accepted <c>aud</c> values, compared exactly. Default: <c>ghaport</c>.</summary>
    public required IReadOnlyList<string> Audiences { get; init; }
}
