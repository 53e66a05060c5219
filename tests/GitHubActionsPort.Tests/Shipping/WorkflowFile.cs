using YamlDotNet.RepresentationModel;

namespace GitHubActionsPort.Tests.Shipping;

/// <summary>A GitHub Actions workflow (or action) file parsed as YAML, with the lookups the workflow rules need.</summary>
internal sealed class WorkflowFile
{
    private WorkflowFile(string text, YamlMappingNode root)
    {
        Text = text;
        Root = root;
    }

    /// <summary>The file as written (comments included: a SHA pin's tag lives in one).</summary>
    public string Text { get; }

    public YamlMappingNode Root { get; }

    public static WorkflowFile Parse(string text)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(text));
        if (stream.Documents.Count != 1 || stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            throw new InvalidDataException("a workflow is one YAML document holding a mapping");
        }

        return new WorkflowFile(text, root);
    }

    /// <summary>Reads a file of this repository, by its path from the repository's root.</summary>
    public static WorkflowFile Load(string relativePath) =>
        Parse(File.ReadAllText(Path.Combine(PublishedAgent.RepositoryRoot(), relativePath)));

    public static YamlNode? Get(YamlMappingNode map, string key) =>
        map.Children.TryGetValue(new YamlScalarNode(key), out var value) ? value : null;

    public static string? Scalar(YamlMappingNode map, string key) => (Get(map, key) as YamlScalarNode)?.Value;

    public static YamlMappingNode? Map(YamlMappingNode map, string key) => Get(map, key) as YamlMappingNode;

    public static IEnumerable<string> Keys(YamlMappingNode map) =>
        map.Children.Keys.OfType<YamlScalarNode>().Select(k => k.Value ?? "");

    /// <summary>The scalars of a sequence, or the one scalar; nothing for anything else.</summary>
    public static IEnumerable<string> Scalars(YamlNode? node) => node switch
    {
        YamlScalarNode scalar => [scalar.Value ?? ""],
        YamlSequenceNode sequence => sequence.Children.OfType<YamlScalarNode>().Select(s => s.Value ?? ""),
        _ => [],
    };

    public IEnumerable<(string Name, YamlMappingNode Job)> Jobs =>
        Map(Root, "jobs") is { } jobs
            ? jobs.Children.Where(j => j.Value is YamlMappingNode).Select(j => (((YamlScalarNode)j.Key).Value ?? "", (YamlMappingNode)j.Value))
            : [];

    public static IEnumerable<YamlMappingNode> Steps(YamlMappingNode job) =>
        Get(job, "steps") is YamlSequenceNode steps ? steps.Children.OfType<YamlMappingNode>() : [];

    /// <summary>Every <c>run:</c> script of a job, one after the other.</summary>
    public static string RunText(YamlMappingNode job) =>
        string.Join('\n', Steps(job).Select(s => Scalar(s, "run")).OfType<string>());

    /// <summary>Every <c>uses:</c> of the file: of steps and of jobs (reusable workflows), with the job's name.</summary>
    public IEnumerable<(string Job, string Uses)> Uses =>
        Jobs.SelectMany(j =>
            Steps(j.Job).Select(s => Scalar(s, "uses")).Append(Scalar(j.Job, "uses")).OfType<string>().Select(u => (j.Name, u)));

    /// <summary>The steps of a job that use the given action (any ref).</summary>
    public static IEnumerable<YamlMappingNode> StepsUsing(YamlMappingNode job, string repository) =>
        Steps(job).Where(s => Scalar(s, "uses") is { } uses && uses.StartsWith(repository + "@", StringComparison.Ordinal));
}
