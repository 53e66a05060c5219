using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace GitHubActionsPort.Tests.Shipping;

/// <summary>
/// What the repository's workflows must be, as checks that each return the problems found (none: the file passes).
/// Each rule is tested against the real files and against a file broken on purpose, so a rule that can never fail
/// is caught too.
/// </summary>
internal static partial class WorkflowRules
{
    /// <summary>The agent's release assets per runtime identifier, and the runner that builds them natively.</summary>
    public static readonly IReadOnlyDictionary<string, (string Runner, string[] Assets)> ReleaseBuilds =
        new Dictionary<string, (string, string[])>(StringComparer.Ordinal)
        {
            ["linux-x64"] = ("ubuntu-latest", ["ghaport-linux-x64", "ghaport-broker-linux-x64"]),
            ["linux-arm64"] = ("ubuntu-24.04-arm", ["ghaport-linux-arm64", "ghaport-broker-linux-arm64"]),
            ["win-x64"] = ("windows-latest", ["ghaport-win-x64.exe", "ghaport-broker-win-x64.exe"]),
            ["osx-arm64"] = ("macos-latest", ["ghaport-osx-arm64"]),
        };

    private static readonly string[] CiTriggers = ["push", "pull_request"];
    private static readonly string[] CiCommands = ["bash .ci/run", "dotnet tool restore", "build.ps1 test"];
    private static readonly string[] ForkTriggers = ["pull_request_target", "workflow_run"];
    private static readonly string[] PushOnly = ["push"];
    private static readonly string[] TagsOnly = ["tags"];
    private static readonly string[] AttestationScopes = ["id-token", "attestations"];

    /// <summary>Every binary on the release (SHIP.md's names): four agents, three brokers.</summary>
    public static IEnumerable<string> ReleaseBinaries => ReleaseBuilds.Values.SelectMany(b => b.Assets).Order(StringComparer.Ordinal);

    /// <summary>
    /// Every <c>uses:</c> names one of GitHub's own actions in <see cref="Node24Actions"/>, by a release commit
    /// (full SHA, its tag in the line's comment) or by a major that runs on Node 24.
    /// </summary>
    public static IReadOnlyList<string> PinnedNode24Actions(WorkflowFile file) =>
        file.Uses.SelectMany(u => CheckUses(u.Uses, file.Text).Select(p => $"job '{u.Job}': {p}")).ToList();

    /// <summary>The checks of <see cref="PinnedNode24Actions"/> for one <c>uses:</c> value; <paramref name="text"/> holds its line.</summary>
    public static IEnumerable<string> CheckUses(string uses, string text)
    {
        var match = UsesPattern().Match(uses);
        if (!match.Success)
        {
            yield return $"'{uses}' is not owner/repo[/path]@ref (local and docker:// actions are not allowed)";
            yield break;
        }

        if (match.Groups["owner"].Value != "actions")
        {
            yield return $"'{uses}' is a third-party action: only GitHub's own actions (actions/*) are allowed";
            yield break;
        }

        var repository = $"actions/{match.Groups["repo"].Value}";
        if (!Node24Actions.ByRepository.TryGetValue(repository, out var known))
        {
            yield return $"'{uses}': {repository} is not in the allow-list of actions that run on Node 24 (Node24Actions)";
            yield break;
        }

        var reference = match.Groups["ref"].Value;
        if (FullShaPattern().IsMatch(reference))
        {
            if (!known.ReleaseCommits.TryGetValue(reference, out var tag))
            {
                yield return $"'{uses}': {reference} is not a known release commit of {repository}";
            }
            else if (!Regex.Matches(text, @"uses:\s*" + Regex.Escape(uses) + @"[ \t]+#[ \t]*(?<tag>\S+)").Any(m => m.Groups["tag"].Value == tag))
            {
                yield return $"'{uses}' is {tag}: write '# {tag}' after it, so a reader sees which release it is";
            }
        }
        else if (MajorPattern().Match(reference) is { Success: true } major)
        {
            if (int.Parse(major.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) < known.FirstNode24Major)
            {
                yield return $"'{uses}': {reference} of {repository} does not run on Node 24; v{known.FirstNode24Major} is the first that does";
            }
        }
        else
        {
            yield return $"'{uses}': '{reference}' is neither a full commit SHA nor a major tag (vN)";
        }
    }

    /// <summary>
    /// Top-level permissions name each scope and write nothing; a job is granted a write scope only when it does
    /// what needs it (contents: gh release or git push; packages: an image push; id-token and attestations: an attestation).
    /// </summary>
    public static IReadOnlyList<string> LeastPermissions(WorkflowFile file)
    {
        var problems = new List<string>();
        switch (WorkflowFile.Get(file.Root, "permissions"))
        {
            case null:
                problems.Add("no top-level permissions: the token would get the repository's default, possibly write to everything");
                break;
            case YamlScalarNode scalar:
                problems.Add($"top-level permissions '{scalar.Value}': name each scope instead (contents: read)");
                break;
            case YamlMappingNode map:
                problems.AddRange(Writes(map).Select(scope => $"top-level permissions grant {scope}: write; grant it only in the job that needs it"));
                break;
        }

        foreach (var (name, job) in file.Jobs)
        {
            switch (WorkflowFile.Get(job, "permissions"))
            {
                case YamlScalarNode scalar when scalar.Value is "write-all" or "read-all":
                    problems.Add($"job '{name}' has permissions '{scalar.Value}': name each scope instead");
                    break;
                case YamlMappingNode map:
                    problems.AddRange(Writes(map).Where(scope => !NeedsWrite(scope, job))
                        .Select(scope => $"job '{name}' is granted {scope}: write but does nothing that needs it"));
                    break;
            }
        }

        return problems;
    }

    /// <summary>
    /// No <c>run:</c> script holds <c>${{ }}</c> text: an expression is pasted into the script before the shell reads
    /// it, so a branch name or a pull request's title could run as code (script injection). Values go through env.
    /// </summary>
    public static IReadOnlyList<string> NoExpressionsInScripts(WorkflowFile file) =>
        file.Jobs.SelectMany(j => WorkflowFile.Steps(j.Job)
                .Where(s => WorkflowFile.Scalar(s, "run") is { } run && run.Contains("${{", StringComparison.Ordinal))
                .Select(s => $"job '{j.Name}', step '{WorkflowFile.Scalar(s, "name") ?? WorkflowFile.Scalar(s, "run")}': " +
                             "the script holds ${{ }} text; pass the value through env: and use \"$NAME\""))
            .ToList();

    /// <summary>Every job has a timeout-minutes (the default is six hours).</summary>
    public static IReadOnlyList<string> TimeBoxedJobs(WorkflowFile file) =>
        file.Jobs.Where(j => WorkflowFile.Scalar(j.Job, "timeout-minutes") is null)
            .Select(j => $"job '{j.Name}' has no timeout-minutes").ToList();

    /// <summary>
    /// ci.yml: on push and pull_request (never pull_request_target or workflow_run, which run with the base
    /// repository's secrets), a matrix of ubuntu-latest and windows-latest, superseded pull request runs cancelled,
    /// the SDK from global.json, Linux through .ci/run, Windows through build.ps1 test, the test results kept when it fails.
    /// </summary>
    public static IReadOnlyList<string> CiShape(WorkflowFile file)
    {
        var problems = new List<string>();
        var on = WorkflowFile.Map(file.Root, "on");
        var triggers = on is null ? [] : WorkflowFile.Keys(on).ToList();
        foreach (var needed in CiTriggers.Where(t => !triggers.Contains(t)))
        {
            problems.Add($"ci.yml does not run on {needed}");
        }

        foreach (var risky in triggers.Intersect(ForkTriggers))
        {
            problems.Add($"ci.yml runs on {risky}, which gives a fork's code the base repository's secrets and token");
        }

        var matrixOs = file.Jobs.Select(j => WorkflowFile.Map(j.Job, "strategy") is { } s && WorkflowFile.Map(s, "matrix") is { } m
                ? WorkflowFile.Scalars(WorkflowFile.Get(m, "os")).ToHashSet(StringComparer.Ordinal)
                : [])
            .FirstOrDefault(os => os.Count > 0) ?? [];
        if (!matrixOs.SetEquals(["ubuntu-latest", "windows-latest"]))
        {
            problems.Add($"ci.yml's matrix os is [{string.Join(", ", matrixOs)}], not [ubuntu-latest, windows-latest]");
        }

        if (WorkflowFile.Map(file.Root, "concurrency") is not { } concurrency ||
            WorkflowFile.Scalar(concurrency, "cancel-in-progress") is not { } cancel || cancel == "false")
        {
            problems.Add("ci.yml does not cancel a superseded run (concurrency: cancel-in-progress)");
        }

        var jobs = file.Jobs.Select(j => j.Job).ToList();
        var dotnetSteps = jobs.SelectMany(j => WorkflowFile.StepsUsing(j, "actions/setup-dotnet")).ToList();
        if (dotnetSteps.Count == 0 || dotnetSteps.Any(s => (WorkflowFile.Map(s, "with") is { } with ? WorkflowFile.Scalar(with, "global-json-file") : null) != "global.json"))
        {
            problems.Add("ci.yml does not install the SDK global.json names (actions/setup-dotnet with global-json-file: global.json)");
        }

        var run = string.Join('\n', jobs.Select(WorkflowFile.RunText));
        foreach (var command in CiCommands.Where(c => !run.Contains(c, StringComparison.Ordinal)))
        {
            problems.Add($"ci.yml never runs '{command}'");
        }

        var kept = jobs.SelectMany(j => WorkflowFile.StepsUsing(j, "actions/upload-artifact"))
            .Any(s => (WorkflowFile.Scalar(s, "if") ?? "").Contains("failure()", StringComparison.Ordinal) &&
                      WorkflowFile.Map(s, "with") is { } with && (WorkflowFile.Scalar(with, "path") ?? "").Contains("test-results", StringComparison.Ordinal));
        if (!kept)
        {
            problems.Add("ci.yml does not keep artifacts/test-results when it fails (actions/upload-artifact, if: failure())");
        }

        return problems;
    }

    /// <summary>release.yml runs on pushed version tags (v...) and on nothing else.</summary>
    public static IReadOnlyList<string> ReleaseTrigger(WorkflowFile file)
    {
        var on = WorkflowFile.Map(file.Root, "on");
        if (on is null || !WorkflowFile.Keys(on).SequenceEqual(PushOnly) || WorkflowFile.Map(on, "push") is not { } push)
        {
            return ["release.yml must run on push (of tags) only"];
        }

        if (!WorkflowFile.Keys(push).SequenceEqual(TagsOnly))
        {
            return [$"release.yml's push trigger has [{string.Join(", ", WorkflowFile.Keys(push))}]; only tags"];
        }

        var tags = WorkflowFile.Scalars(WorkflowFile.Get(push, "tags")).ToList();
        return tags.Count == 0 || tags.Any(t => !t.StartsWith('v'))
            ? [$"release.yml's tag patterns [{string.Join(", ", tags)}] are not all version tags (v...)"]
            : [];
    }

    /// <summary>
    /// A matrix builds each agent (and broker) natively on a runner of its own OS and architecture with
    /// <c>build.ps1 publish --rid RID --version VERSION</c>, under exactly SHIP.md's asset names.
    /// </summary>
    public static IReadOnlyList<string> ReleaseMatrix(WorkflowFile file)
    {
        var problems = new List<string>();
        var (name, job, include) = file.Jobs
            .Select(j => (j.Name, j.Job, Include: WorkflowFile.Map(j.Job, "strategy") is { } s && WorkflowFile.Map(s, "matrix") is { } m
                ? WorkflowFile.Get(m, "include") as YamlSequenceNode
                : null))
            .FirstOrDefault(j => j.Include is not null);
        if (include is null)
        {
            return ["release.yml has no build matrix (strategy.matrix.include)"];
        }

        var built = include.Children.OfType<YamlMappingNode>()
            .ToDictionary(e => WorkflowFile.Scalar(e, "rid") ?? "", e => e, StringComparer.Ordinal);
        foreach (var (rid, (runner, assets)) in ReleaseBuilds)
        {
            if (!built.Remove(rid, out var entry))
            {
                problems.Add($"the build matrix does not build {rid}");
                continue;
            }

            if (WorkflowFile.Scalar(entry, "os") != runner)
            {
                problems.Add($"{rid} is built on {WorkflowFile.Scalar(entry, "os")}, not natively on {runner}");
            }

            var named = (WorkflowFile.Scalar(entry, "assets") ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (!named.Order(StringComparer.Ordinal).SequenceEqual(assets.Order(StringComparer.Ordinal)))
            {
                problems.Add($"{rid} ships [{string.Join(", ", named)}], not [{string.Join(", ", assets)}]");
            }
        }

        problems.AddRange(built.Keys.Select(rid => $"the build matrix builds {rid}, which is not a release asset"));
        if (WorkflowFile.Scalar(job, "runs-on") != "${{ matrix.os }}")
        {
            problems.Add($"job '{name}' does not run on the matrix's runner (runs-on: ${{{{ matrix.os }}}})");
        }

        var run = WorkflowFile.RunText(job);
        if (!PublishCommandPattern().IsMatch(run))
        {
            problems.Add($"job '{name}' does not run build.ps1 publish --rid \"$RID\" --version \"$VERSION\"");
        }

        if (!WorkflowFile.StepsUsing(job, "actions/upload-artifact").Any())
        {
            problems.Add($"job '{name}' does not upload what it built");
        }

        return problems;
    }

    /// <summary>
    /// SHA256SUMS is written over every binary, and every file of the release (binaries, SHA256SUMS, the tool
    /// package) and the image get a build-provenance attestation, in jobs that may sign (id-token) and store it.
    /// </summary>
    public static IReadOnlyList<string> ReleaseChecksumsAndAttestations(WorkflowFile file)
    {
        var problems = new List<string>();
        var sums = file.Jobs.Select(j => WorkflowFile.RunText(j.Job)).FirstOrDefault(r => r.Contains("> SHA256SUMS", StringComparison.Ordinal));
        if (sums is null || !sums.Contains("sha256sum", StringComparison.Ordinal))
        {
            problems.Add("release.yml does not write SHA256SUMS with sha256sum");
        }
        else
        {
            problems.AddRange(ReleaseBinaries.Where(b => !sums.Contains(b, StringComparison.Ordinal)).Select(b => $"SHA256SUMS is not written over {b}"));
        }

        var attesting = file.Jobs.SelectMany(j => WorkflowFile.StepsUsing(j.Job, "actions/attest-build-provenance").Select(s => (j.Name, j.Job, Step: s))).ToList();
        var subjects = attesting
            .Select(a => WorkflowFile.Map(a.Step, "with") is { } with ? WorkflowFile.Scalar(with, "subject-path") : null)
            .OfType<string>()
            .SelectMany(p => p.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            .Select(p => p[(p.LastIndexOf('/') + 1)..])
            .ToHashSet(StringComparer.Ordinal);
        foreach (var asset in ReleaseBinaries.Append("SHA256SUMS").Where(a => !subjects.Contains(a)))
        {
            problems.Add($"no attestation has {asset} as a subject-path");
        }

        if (!subjects.Any(s => s.StartsWith("ghaport.", StringComparison.Ordinal) && s.EndsWith(".nupkg", StringComparison.Ordinal)))
        {
            problems.Add("no attestation has the .NET tool package (ghaport.<version>.nupkg) as a subject-path");
        }

        var image = attesting.Any(a => WorkflowFile.Map(a.Step, "with") is { } with &&
                                       WorkflowFile.Scalar(with, "subject-digest") is not null &&
                                       WorkflowFile.Scalar(with, "push-to-registry") == "true");
        if (!image)
        {
            problems.Add("the image's attestation is missing (subject-digest, push-to-registry: true)");
        }

        foreach (var (name, job, _) in attesting.DistinctBy(a => a.Name))
        {
            var granted = WorkflowFile.Map(job, "permissions") is { } map ? Writes(map).ToHashSet(StringComparer.Ordinal) : [];
            foreach (var scope in AttestationScopes.Where(s => !granted.Contains(s)))
            {
                problems.Add($"job '{name}' attests but is not granted {scope}: write");
            }
        }

        return problems;
    }

    /// <summary>
    /// The release is made with gh (no third-party release action), the image goes to ghcr.io through the SDK after
    /// a docker login that reads the token from stdin, the tool package goes to NuGet only with a NUGET_API_KEY
    /// secret, and the last job commits the action's checksums and release.json and moves the major tag.
    /// </summary>
    public static IReadOnlyList<string> ReleasePublishes(WorkflowFile file)
    {
        var problems = new List<string>();
        var runs = file.Jobs.Select(j => (j.Name, j.Job, Run: WorkflowFile.RunText(j.Job))).ToList();
        bool Any(params string[] parts) => runs.Any(r => parts.All(p => r.Run.Contains(p, StringComparison.Ordinal)));

        if (!Any("gh release create"))
        {
            problems.Add("release.yml does not create the release with gh release create");
        }

        if (!Any("docker login ghcr.io", "--password-stdin"))
        {
            problems.Add("release.yml does not log in to ghcr.io with the token on stdin (docker login ghcr.io --password-stdin)");
        }

        if (!Any("/t:PublishContainer", "-p:ContainerRegistry=ghcr.io", "ghaport-broker"))
        {
            problems.Add("release.yml does not push the broker image to ghcr.io (dotnet publish /t:PublishContainer -p:ContainerRegistry=ghcr.io)");
        }

        // The base image (runtime-deps) has no .NET runtime: a framework-dependent broker in it would not start.
        if (!Any("/t:PublishContainer", "--self-contained"))
        {
            problems.Add("release.yml does not publish the broker image self-contained (--self-contained)");
        }

        var nuget = file.Jobs.SelectMany(j => WorkflowFile.Steps(j.Job))
            .FirstOrDefault(s => (WorkflowFile.Scalar(s, "run") ?? "").Contains("dotnet nuget push", StringComparison.Ordinal));
        if (nuget is null ||
            (WorkflowFile.Map(nuget, "env") is { } env ? WorkflowFile.Scalar(env, "NUGET_API_KEY") : null) != "${{ secrets.NUGET_API_KEY }}" ||
            !(WorkflowFile.Scalar(nuget, "run") ?? "").Contains("-z \"$NUGET_API_KEY\"", StringComparison.Ordinal))
        {
            problems.Add("release.yml does not push the tool package to NuGet only when the NUGET_API_KEY secret exists");
        }

        if (!Any("agent/action/checksums/", "agent/action/release.json", "git push", "git tag -f"))
        {
            problems.Add("release.yml does not commit agent/action/checksums/<version>.sha256 and release.json and move the major tag");
        }

        return problems;
    }

    private static IEnumerable<string> Writes(YamlMappingNode permissions) =>
        permissions.Children.Where(p => p.Value is YamlScalarNode { Value: "write" }).Select(p => ((YamlScalarNode)p.Key).Value ?? "");

    private static bool NeedsWrite(string scope, YamlMappingNode job)
    {
        var run = WorkflowFile.RunText(job);
        return scope switch
        {
            "contents" => ContentsWritePattern().IsMatch(run),
            "packages" => run.Contains("docker login", StringComparison.Ordinal) || run.Contains("PublishContainer", StringComparison.Ordinal),
            "id-token" or "attestations" => WorkflowFile.StepsUsing(job, "actions/attest-build-provenance").Any(),
            _ => false,
        };
    }

    [GeneratedRegex(@"^(?<owner>[A-Za-z0-9-]+)/(?<repo>[A-Za-z0-9._-]+)(?<path>/[^@\s]+)?@(?<ref>\S+)$")]
    private static partial Regex UsesPattern();

    [GeneratedRegex("^[0-9a-f]{40}$")]
    private static partial Regex FullShaPattern();

    [GeneratedRegex(@"^v([0-9]+)$")]
    private static partial Regex MajorPattern();

    [GeneratedRegex(@"build\.ps1 publish --rid ""\$RID"" --version ""\$VERSION""")]
    private static partial Regex PublishCommandPattern();

    [GeneratedRegex(@"gh release (create|edit|upload)|git push")]
    private static partial Regex ContentsWritePattern();
}
