using System.Text.RegularExpressions;

namespace GitHubActionsPort.Tests.Shipping;

/// <summary>
/// The repository's workflows (<c>.github/workflows/ci.yml</c>, <c>release.yml</c>), which cannot run here, parsed
/// and checked against <see cref="WorkflowRules"/>: only GitHub's own actions, pinned by release commit or by a
/// Node 24 major; least permissions; no expression text in scripts; the release's triggers, builds, checksums,
/// attestations and publishing. Each rule also gets a file broken on purpose, to show it can fail.
/// </summary>
public sealed partial class WorkflowFileTests
{
    private const string Ci = ".github/workflows/ci.yml";
    private const string Release = ".github/workflows/release.yml";

    [TestCase(Ci)]
    [TestCase(Release)]
    public void Workflow_NamesOnlyGitHubsOwnActions_PinnedToARelease_OnNode24(string path) =>
        Assert.That(WorkflowRules.PinnedNode24Actions(WorkflowFile.Load(path)), Is.Empty);

    [TestCase(Ci)]
    [TestCase(Release)]
    public void Workflow_GrantsLeastPermissions(string path) =>
        Assert.That(WorkflowRules.LeastPermissions(WorkflowFile.Load(path)), Is.Empty);

    [TestCase(Ci)]
    [TestCase(Release)]
    public void Workflow_PassesValuesToScriptsThroughEnv(string path) =>
        Assert.That(WorkflowRules.NoExpressionsInScripts(WorkflowFile.Load(path)), Is.Empty);

    [TestCase(Ci)]
    [TestCase(Release)]
    public void Workflow_TimeBoxesEveryJob(string path) =>
        Assert.That(WorkflowRules.TimeBoxedJobs(WorkflowFile.Load(path)), Is.Empty);

    [Test]
    public void Ci_BuildsAndTests_OnPushAndPullRequest_OnLinuxAndWindows() =>
        Assert.That(WorkflowRules.CiShape(WorkflowFile.Load(Ci)), Is.Empty);

    [Test]
    public void Ci_ReadsTheRepositoryOnly()
    {
        var permissions = WorkflowFile.Map(WorkflowFile.Load(Ci).Root, "permissions");

        Assert.That(permissions?.Children.ToDictionary(p => p.Key.ToString(), p => p.Value.ToString()),
            Is.EqualTo(new Dictionary<string, string> { ["contents"] = "read" }));
    }

    [Test]
    public void Release_RunsOnVersionTagsOnly() =>
        Assert.That(WorkflowRules.ReleaseTrigger(WorkflowFile.Load(Release)), Is.Empty);

    [Test]
    public void Release_BuildsEveryAgentAndBroker_NativelyOnItsOwnRunner() =>
        Assert.That(WorkflowRules.ReleaseMatrix(WorkflowFile.Load(Release)), Is.Empty);

    [Test]
    public void Release_WritesSha256Sums_AndAttestsEveryArtifactAndTheImage() =>
        Assert.That(WorkflowRules.ReleaseChecksumsAndAttestations(WorkflowFile.Load(Release)), Is.Empty);

    [Test]
    public void Release_PublishesTheRelease_TheImage_TheToolWhenAKeyExists_AndPinsTheAction() =>
        Assert.That(WorkflowRules.ReleasePublishes(WorkflowFile.Load(Release)), Is.Empty);

    [Test]
    public void Action_RunsOnNode24()
    {
        var runs = WorkflowFile.Map(WorkflowFile.Load("agent/action.yml").Root, "runs");

        Assert.That(runs is null ? null : WorkflowFile.Scalar(runs, "using"), Is.EqualTo("node24"));
    }

    [Test]
    public void Readme_WorkflowExamples_PinGitHubsActionsToNode24Releases_AndSetUpNoDotnet()
    {
        var readme = File.ReadAllText(Path.Combine(PublishedAgent.RepositoryRoot(), "README.md"));
        var examples = string.Join('\n', YamlBlock().Matches(readme).Select(m => m.Groups[1].Value));
        var uses = UsesLine().Matches(examples).Select(m => m.Groups[1].Value).ToList();

        Assert.Multiple(() =>
        {
            Assert.That(uses.Where(u => u.StartsWith("actions/", StringComparison.Ordinal)), Is.Not.Empty, "the examples check out the repository");
            Assert.That(uses.Where(u => u.StartsWith("actions/", StringComparison.Ordinal)).SelectMany(u => WorkflowRules.CheckUses(u, examples)), Is.Empty);
            Assert.That(uses, Has.None.StartsWith("actions/setup-dotnet"), "the action needs no .NET on the runner");
        });
    }

    [Test]
    public void AllowList_NamesFullCommitsWithTheirReleaseTags()
    {
        foreach (var action in Node24Actions.ByRepository.Values)
        {
            Assert.That(action.ReleaseCommits.Keys, Has.All.Matches<string>(sha => Regex.IsMatch(sha, "^[0-9a-f]{40}$")), action.Repository);
            Assert.That(action.ReleaseCommits.Values, Has.All.Matches<string>(tag => Regex.IsMatch(tag, @"^v[0-9]+\.[0-9]+\.[0-9]+$") &&
                int.Parse(tag[1..tag.IndexOf('.', StringComparison.Ordinal)], System.Globalization.CultureInfo.InvariantCulture) >= action.FirstNode24Major), action.Repository);
        }
    }

    // --- Each rule fails on a file that breaks it ---------------------------------------------------------------

    [TestCase("softprops/action-gh-release@v2", "third-party action")]
    [TestCase("docker/login-action@v3", "third-party action")]
    [TestCase("actions/checkout@v4", "does not run on Node 24")]
    [TestCase("actions/upload-artifact@v5", "does not run on Node 24")]
    [TestCase("actions/download-artifact@v6", "does not run on Node 24")]
    [TestCase("actions/checkout@main", "neither a full commit SHA nor a major tag")]
    [TestCase("actions/checkout@v6.0.2", "neither a full commit SHA nor a major tag")]
    [TestCase("actions/checkout@de0fac2", "neither a full commit SHA nor a major tag")]
    [TestCase("actions/checkout@0123456789abcdef0123456789abcdef01234567 # v6.0.2", "not a known release commit")]
    [TestCase("actions/checkout@de0fac2e4500dabe0009e67214ff5f5447ce83dd # v5.0.0", "write '# v6.0.2'")]
    [TestCase("actions/checkout@de0fac2e4500dabe0009e67214ff5f5447ce83dd", "write '# v6.0.2'")]
    [TestCase("actions/cache@v5", "not in the allow-list")]
    [TestCase("./.github/actions/build", "not owner/repo[/path]@ref")]
    [TestCase("docker://alpine:3.20", "not owner/repo[/path]@ref")]
    public void PinnedNode24Actions_Refuses(string usesLine, string problem) =>
        Assert.That(WorkflowRules.PinnedNode24Actions(WorkflowFile.Parse(OneStep("uses: " + usesLine))), Has.Some.Contains(problem));

    [TestCase("actions/checkout@v5")]
    [TestCase("actions/checkout@de0fac2e4500dabe0009e67214ff5f5447ce83dd # v6.0.2")]
    [TestCase("actions/attest-build-provenance@v3")]
    [TestCase("actions/download-artifact@37930b1c2abaa49bbe596cd826c3c89aef350131 # v7.0.0")]
    public void PinnedNode24Actions_Accepts(string usesLine) =>
        Assert.That(WorkflowRules.PinnedNode24Actions(WorkflowFile.Parse(OneStep("uses: " + usesLine))), Is.Empty);

    [TestCase("", "", "no top-level permissions")]
    [TestCase("permissions: write-all\n", "", "top-level permissions 'write-all'")]
    [TestCase("permissions:\n  contents: write\n", "", "top-level permissions grant contents: write")]
    [TestCase("permissions: {}\n", "    permissions: write-all\n", "job 'j' has permissions 'write-all'")]
    [TestCase("permissions: {}\n", "    permissions:\n      packages: write\n", "job 'j' is granted packages: write but does nothing that needs it")]
    [TestCase("permissions: {}\n", "    permissions:\n      contents: write\n", "job 'j' is granted contents: write")]
    [TestCase("permissions: {}\n", "    permissions:\n      id-token: write\n", "job 'j' is granted id-token: write")]
    [TestCase("permissions: {}\n", "    permissions:\n      actions: write\n", "job 'j' is granted actions: write")]
    public void LeastPermissions_Refuses(string topLevel, string jobLevel, string problem) =>
        Assert.That(WorkflowRules.LeastPermissions(WorkflowFile.Parse(OneStep("run: echo hello", topLevel, jobLevel))), Has.Some.Contains(problem));

    [Test]
    public void LeastPermissions_Accepts_AWriteTheJobNeeds() =>
        Assert.That(WorkflowRules.LeastPermissions(WorkflowFile.Parse(OneStep(
            "run: gh release create \"$GITHUB_REF_NAME\"", "permissions:\n  contents: read\n", "    permissions:\n      contents: write\n"))), Is.Empty);

    [TestCase("run: echo \"${{ github.event.pull_request.title }}\"")]
    [TestCase("run: git switch ${{ github.head_ref }}")]
    [TestCase("run: |\n          echo start\n          echo \"${{ github.event.issue.body }}\"")]
    public void NoExpressionsInScripts_Refuses(string step) =>
        Assert.That(WorkflowRules.NoExpressionsInScripts(WorkflowFile.Parse(OneStep(step))), Has.Some.Contains("through env"));

    [Test]
    public void NoExpressionsInScripts_Accepts_AValueThroughEnv() =>
        Assert.That(WorkflowRules.NoExpressionsInScripts(WorkflowFile.Parse(OneStep(
            "run: echo \"$TITLE\"\n        env:\n          TITLE: ${{ github.event.pull_request.title }}"))), Is.Empty);

    [Test]
    public void TimeBoxedJobs_Refuses_AJobWithoutTimeout() =>
        Assert.That(WorkflowRules.TimeBoxedJobs(WorkflowFile.Parse(OneStep("run: echo hello", timeout: false))), Has.Some.Contains("no timeout-minutes"));

    [TestCase("  pull_request:\n", "  pull_request_target:\n", "does not run on pull_request")]
    [TestCase("  pull_request:\n", "  pull_request:\n  workflow_run:\n    workflows: [ci]\n", "runs on workflow_run")]
    [TestCase("  push:\n    branches: ['**']\n", "  workflow_dispatch:\n", "does not run on push")]
    [TestCase("os: [ubuntu-latest, windows-latest]", "os: [ubuntu-latest]", "not [ubuntu-latest, windows-latest]")]
    [TestCase("cancel-in-progress: ${{ github.event_name == 'pull_request' }}", "cancel-in-progress: false", "superseded run")]
    [TestCase("global-json-file: global.json", "dotnet-version: 10.0.x", "global-json-file: global.json")]
    [TestCase("run: bash .ci/run", "run: bash ./test.sh", "'bash .ci/run'")]
    [TestCase("-File ./build.ps1 test", "-File ./build.ps1 build", "'build.ps1 test'")]
    [TestCase("if: failure()", "if: success()", "test-results")]
    public void CiShape_Refuses_ABrokenCi(string from, string to, string problem) =>
        Assert.That(WorkflowRules.CiShape(Broken(Ci, from, to)), Has.Some.Contains(problem));

    [TestCase("\npermissions:\n  contents: read\n", "\npermissions: write-all\n", "top-level permissions 'write-all'")]
    [TestCase("      contents: write      # the commit on the default branch", "      packages: write\n      contents: write      #", "job 'finalize' is granted packages: write")]
    [TestCase("    permissions:\n      contents: write      # gh release create\n", "    permissions:\n      contents: write\n      packages: write\n", "job 'release' is granted packages: write")]
    public void LeastPermissions_Refuses_ABrokenRelease(string from, string to, string problem) =>
        Assert.That(WorkflowRules.LeastPermissions(Broken(Release, from, to)), Has.Some.Contains(problem));

    [TestCase("run: |\n          tag=\"$GITHUB_REF_NAME\"", "run: |\n          tag=\"${{ github.ref_name }}\"")]
    public void NoExpressionsInScripts_Refuses_ABrokenRelease(string from, string to) =>
        Assert.That(WorkflowRules.NoExpressionsInScripts(Broken(Release, from, to)), Has.Some.Contains("through env"));

    [TestCase("on:\n  push:\n", "on:\n  workflow_dispatch:\n  push:\n", "push (of tags) only")]
    [TestCase("    tags:\n", "    branches: [main]\n    tags:\n", "only tags")]
    [TestCase("      - 'v[0-9]+.[0-9]+.[0-9]+'\n", "      - '*'\n", "not all version tags")]
    public void ReleaseTrigger_Refuses_ABrokenRelease(string from, string to, string problem) =>
        Assert.That(WorkflowRules.ReleaseTrigger(Broken(Release, from, to)), Has.Some.Contains(problem));

    [TestCase("rid: osx-arm64", "rid: osx-x64", "does not build osx-arm64")]
    [TestCase("os: ubuntu-24.04-arm", "os: ubuntu-latest", "not natively on ubuntu-24.04-arm")]
    [TestCase("assets: ghaport-win-x64.exe ghaport-broker-win-x64.exe", "assets: ghaport-win-x64.exe", "win-x64 ships")]
    [TestCase("assets: ghaport-linux-x64 ghaport-broker-linux-x64", "assets: ghaport-linux-amd64 ghaport-broker-linux-x64", "linux-x64 ships")]
    [TestCase(" --rid \"$RID\" --version \"$VERSION\"", " --rid \"$RID\"", "build.ps1 publish --rid")]
    [TestCase("    runs-on: ${{ matrix.os }}\n", "    runs-on: ubuntu-latest\n", "matrix's runner")]
    public void ReleaseMatrix_Refuses_ABrokenRelease(string from, string to, string problem) =>
        Assert.That(WorkflowRules.ReleaseMatrix(Broken(Release, from, to)), Has.Some.Contains(problem));

    [TestCase("> SHA256SUMS", "> CHECKSUMS", "does not write SHA256SUMS")]
    [TestCase("ghaport-broker-linux-x64 ghaport-broker-linux-arm64 ghaport-broker-win-x64.exe)", "ghaport-broker-linux-x64 ghaport-broker-win-x64.exe)", "SHA256SUMS is not written over ghaport-broker-linux-arm64")]
    [TestCase("            release/ghaport-osx-arm64\n", "", "no attestation has ghaport-osx-arm64")]
    [TestCase("            release/SHA256SUMS\n", "", "no attestation has SHA256SUMS")]
    [TestCase("            release/ghaport.*.nupkg\n", "", "tool package")]
    [TestCase("push-to-registry: true", "push-to-registry: false", "image's attestation")]
    [TestCase("      id-token: write      # the Sigstore certificate that signs the attestation\n      attestations: write  # stores the attestation with the repository\n    steps:", "    steps:", "job 'release' attests but is not granted id-token")]
    public void ReleaseChecksumsAndAttestations_Refuses_ABrokenRelease(string from, string to, string problem) =>
        Assert.That(WorkflowRules.ReleaseChecksumsAndAttestations(Broken(Release, from, to)), Has.Some.Contains(problem));

    [TestCase("gh release create", "gh release list", "gh release create")]
    [TestCase("--password-stdin", "--password \"$REGISTRY_TOKEN\"", "token on stdin")]
    [TestCase("-p:ContainerRegistry=ghcr.io", "-p:ContainerRegistry=docker.io", "push the broker image to ghcr.io")]
    [TestCase("-r linux-x64 --self-contained /t:PublishContainer", "-r linux-x64 /t:PublishContainer", "self-contained")]
    [TestCase("if [ -z \"$NUGET_API_KEY\" ]; then", "if false; then", "only when the NUGET_API_KEY secret exists")]
    [TestCase("NUGET_API_KEY: ${{ secrets.NUGET_API_KEY }}", "NUGET_API_KEY: ${{ secrets.TOKEN }}", "only when the NUGET_API_KEY secret exists")]
    [TestCase("git tag -f", "git tag", "move the major tag")]
    public void ReleasePublishes_Refuses_ABrokenRelease(string from, string to, string problem) =>
        Assert.That(WorkflowRules.ReleasePublishes(Broken(Release, from, to)), Has.Some.Contains(problem));

    /// <summary>A workflow of one job with one step; the permissions and the timeout as a test sets them.</summary>
    private static string OneStep(string step, string topLevel = "permissions:\n  contents: read\n", string jobLevel = "", bool timeout = true) =>
        "name: t\non: push\n" + topLevel +
        "jobs:\n  j:\n    runs-on: ubuntu-latest\n" + (timeout ? "    timeout-minutes: 5\n" : "") + jobLevel +
        "    steps:\n      - " + step + "\n";

    /// <summary>The repository's workflow with one piece replaced (which must be there, so the test breaks what it means to).</summary>
    private static WorkflowFile Broken(string path, string from, string to)
    {
        var text = File.ReadAllText(Path.Combine(PublishedAgent.RepositoryRoot(), path));
        Assert.That(text, Does.Contain(from), $"{path} no longer holds the text this test breaks");
        return WorkflowFile.Parse(text.Replace(from, to, StringComparison.Ordinal));
    }

    [GeneratedRegex(@"```yaml\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex YamlBlock();

    [GeneratedRegex(@"uses:\s*(\S+)")]
    private static partial Regex UsesLine();
}
