namespace GitHubActionsPort.Tests.Shipping;

/// <summary>
/// The allow-list of actions for <c>.github/workflows/</c> and the README's examples: GitHub's own actions only,
/// each at a major that declares <c>runs.using: node24</c> (Node 20 is removed from the runners; an action that
/// still declares it is forced onto Node 24 with a warning), pinned by a release commit or by that major.
/// </summary>
/// <remarks>
/// Where each fact comes from (looked up 2026-12-03 in stored copies of GitHub). The stored <c>action.yml</c> of each
/// repository is an old one: actions/checkout at 02c73802609a582111d8af3a9cd6519263dd983a says <c>using: node20</c>,
/// actions/setup-dotnet at 00e970a9a7cec797d9745694fbd80637bc78c02a <c>using: 'node12'</c>, actions/download-artifact
/// at 055cd6849c1a3ae462b0d71223b283aa00c8d232 <c>using: 'node20'</c>, actions/upload-artifact at
/// 02dd1e4a56ccec4d066fe5ad9e92ba6d31b0e2fe a runner plugin, actions/attest-build-provenance at
/// 06c4efb1220d6a5e36007823ea5f1c4bb7fc6f17 <c>using: 'composite'</c> over actions/attest v1.1.1. So the Node 24 major is
/// read from the maintainers' own release pull requests and notes, and a commit is taken for a tag only where many
/// independent workflows pin that commit with that tag in the comment:
/// <list type="bullet">
/// <item>actions/checkout: v5.0.0 moved to Node 24 (actions/checkout#2226 "Update actions checkout to use node 24",
/// #2238 "Prepare v5.0.0 release ... support for Node.js 24", README "Updated to the node24 runtime", #2248);
/// v6.0.0 changed only where credentials persist (#2286), not the runtime. v6.0.2 =
/// de0fac2e4500dabe0009e67214ff5f5447ce83dd, v5.0.0 = 08c6903cd8c0fde910a37f88322edcfb5dd907a8.</item>
/// <item>actions/setup-dotnet: v5.0.0 "Upgrade to Node.js 24 and modernize async usage" (actions/setup-dotnet#654,
/// the v5.0.0 release notes). v5.2.0 = c2fa09f4bde5ebb9d1777cf28262a3eb3db3ced7.</item>
/// <item>actions/upload-artifact: v6.0.0 "Update to Node.js 24 runtime (runs.using: node24)" (actions/upload-artifact#745;
/// v5 only had "preliminary support" and still ran on Node 20). v6.0.0 = b7c566a772e6b6bfb58ed0dc250532a479d7789f,
/// v7.0.0 = bbbca2ddaa5d8feaa63e36b76fdaad77386f024f.</item>
/// <item>actions/download-artifact: v7.0.0 "Update to Node.js 24 runtime (runs.using: node24)" (actions/download-artifact#452,
/// after #415 "Download Artifact Node24 support"; v5 and v6 still ran on Node 20). v7.0.0 =
/// 37930b1c2abaa49bbe596cd826c3c89aef350131.</item>
/// <item>actions/attest-build-provenance: a composite action; v3.0.0 moved both of its steps to Node 24 (its release
/// notes: actions/attest v3.0.0 "Bump to node24 runtime", #691; attest-build-provenance/predicate v2.0.0 "includes
/// support for the node24 runtime", #693). v3.0.0 = 977bb373ede98d70efdf65b84cb5f73e068dcc2a (Dependabot's compare
/// link for 3.0.0 to 4.1.0 starts at it).</item>
/// </list>
/// </remarks>
internal static class Node24Actions
{
    public static readonly IReadOnlyDictionary<string, KnownAction> ByRepository = new[]
    {
        new KnownAction("actions/checkout", 5, new Dictionary<string, string>
        {
            ["de0fac2e4500dabe0009e67214ff5f5447ce83dd"] = "v6.0.2",
            ["08c6903cd8c0fde910a37f88322edcfb5dd907a8"] = "v5.0.0",
        }),
        new KnownAction("actions/setup-dotnet", 5, new Dictionary<string, string>
        {
            ["c2fa09f4bde5ebb9d1777cf28262a3eb3db3ced7"] = "v5.2.0",
        }),
        new KnownAction("actions/upload-artifact", 6, new Dictionary<string, string>
        {
            ["b7c566a772e6b6bfb58ed0dc250532a479d7789f"] = "v6.0.0",
            ["bbbca2ddaa5d8feaa63e36b76fdaad77386f024f"] = "v7.0.0",
        }),
        new KnownAction("actions/download-artifact", 7, new Dictionary<string, string>
        {
            ["37930b1c2abaa49bbe596cd826c3c89aef350131"] = "v7.0.0",
        }),
        new KnownAction("actions/attest-build-provenance", 3, new Dictionary<string, string>
        {
            ["977bb373ede98d70efdf65b84cb5f73e068dcc2a"] = "v3.0.0",
        }),
    }.ToDictionary(a => a.Repository, StringComparer.Ordinal);
}
