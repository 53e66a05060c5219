namespace GitHubActionsPort.Harness.Image;

/// <summary>Options of <c>ghaport-harness image</c>.</summary>
internal sealed record ImageOptions
{
    /// <summary>Where the tarball goes. Default: <c>artifacts/release/ghaport-broker-image.tar.gz</c>.</summary>
    public string Output { get; init; } = Path.Combine("artifacts", "release", "ghaport-broker-image.tar.gz");

    /// <summary>The image's version (<c>-p:Version</c>). Default: the project's.</summary>
    public string? Version { get; init; }

    public static ImageOptions Parse(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var options = new ImageOptions();
        for (var i = 0; i < args.Count; i++)
        {
            options = args[i] switch
            {
                "--output" when i + 1 < args.Count => options with { Output = args[++i] },
                "--version" when i + 1 < args.Count => options with { Version = args[++i] },
                "--output" or "--version" => throw new UsageException($"{args[i]} needs a value"),
                _ => throw new UsageException($"unknown image option '{args[i]}'"),
            };
        }

        return options;
    }
}
