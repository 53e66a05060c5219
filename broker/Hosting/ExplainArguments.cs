namespace GitHubActionsPort.Broker.Hosting;

/// <summary>The flags of <c>ghaport-broker policy explain</c>.</summary>
/// <param name="TokenFile">File holding the id-token, or <c>-</c> for standard input.</param>
/// <param name="Targets">Targets to decide for (<c>--targets a,b</c>); null for every target a matching rule opens.</param>
/// <param name="Verify">Check signature, audience and lifetime against the issuer (false with <c>--no-verify</c>).</param>
/// <param name="Dev">Judge against the policy of <c>ghaport-broker dev</c> (<c>--dev</c>, with its <c>--target</c> flags).</param>
internal sealed record ExplainArguments(string TokenFile, IReadOnlyList<string>? Targets, bool Verify, bool Dev = false);
