using System.Security.Cryptography;
using System.Text;

namespace GitHubActionsPort.Tests.Shipping;

/// <summary>
/// The <c>SHA256SUMS</c> that <c>build.ps1 publish</c> writes beside the release assets (the action checks downloads
/// against a copy of it): run as release.yml runs it over assets gathered from its runners
/// (<c>publish --checksums-only --release-dir DIR</c>), so the real script's code writes the file, over files made here.
/// </summary>
public sealed class ReleaseChecksumsTests
{
    private static readonly TimeSpan ScriptBound = TimeSpan.FromMinutes(2);

    private string _folder = null!;

    [SetUp]
    public void CreateFolder() => _folder = Directory.CreateTempSubdirectory("ghaport-release-").FullName;

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    [Test]
    public async Task ChecksumsOnly_WritesSha256SumFormat_SortedByName_OverEveryAsset()
    {
        // Names that sort differently by culture and by ordinal ('Z' before 'g' only ordinally), an empty file,
        // and a stale SHA256SUMS that must be replaced, not listed.
        var assets = new Dictionary<string, byte[]>(StringComparer.Ordinal)
        {
            ["ghaport-linux-x64"] = RandomNumberGenerator.GetBytes(100_003),
            ["ghaport-win-x64.exe"] = RandomNumberGenerator.GetBytes(4096),
            ["ghaport-broker-linux-arm64"] = RandomNumberGenerator.GetBytes(17),
            ["ghaport.0.2.0.nupkg"] = [],
            ["Zz-upper-first"] = "x"u8.ToArray(),
        };
        foreach (var (name, content) in assets)
        {
            await File.WriteAllBytesAsync(Path.Combine(_folder, name), content);
        }

        await File.WriteAllTextAsync(Path.Combine(_folder, "SHA256SUMS"), "stale\n");

        var (exitCode, script) = await RunPublishAsync("--checksums-only", "--release-dir", _folder);

        Assert.That(exitCode, Is.Zero, script.Describe());
        var expected = string.Concat(assets.Keys.Order(StringComparer.Ordinal)
            .Select(name => $"{Convert.ToHexStringLower(SHA256.HashData(assets[name]))}  {name}\n"));
        var written = await File.ReadAllBytesAsync(Path.Combine(_folder, "SHA256SUMS"));
        Assert.That(Encoding.UTF8.GetString(written), Is.EqualTo(expected));
        Assert.That(written.Take(3), Is.Not.EqualTo(Encoding.UTF8.Preamble.ToArray()), "no byte-order mark: sha256sum would read it as part of the first hash");

        // And the tool the README tells users to run agrees.
        if (!OperatingSystem.IsWindows())
        {
            await using var check = ChildProcess.StartProgram("sha256sum", ["--check", "--strict", "SHA256SUMS"], workingDirectory: _folder);
            Assert.That(await check.WaitForExitAsync(), Is.Zero, check.Describe());
            Assert.That(check.Output.Lines, Has.Count.EqualTo(assets.Count).And.All.EndsWith(": OK"));
        }
    }

    [Test]
    public async Task UnknownRid_IsRefusedBeforeAnythingIsBuilt_NamingTheReleaseRids()
    {
        var (exitCode, script) = await RunPublishAsync("--rid", "linux-musl-x64", "--release-dir", _folder);

        Assert.That(exitCode, Is.EqualTo(1), script.Describe());
        Assert.That(string.Join('\n', script.Error.Lines), Does.Contain("linux-musl-x64").And.Contain("linux-x64, linux-arm64, osx-arm64, win-x64"));
        Assert.That(Directory.GetFileSystemEntries(_folder), Is.Empty, "nothing was written");
    }

    /// <summary>Runs <c>build.ps1 publish</c> with the repository's pinned PowerShell (<c>dotnet pwsh</c>, restored by <c>dotnet tool restore</c>).</summary>
    private static async Task<(int ExitCode, ChildProcess Script)> RunPublishAsync(params string[] args)
    {
        var root = PublishedAgent.RepositoryRoot();
        var script = ChildProcess.StartProgram(
            "dotnet",
            ["pwsh", "-NoProfile", "-NonInteractive", "-File", Path.Combine(root, "build.ps1"), "publish", .. args],
            new Dictionary<string, string?> { ["NO_COLOR"] = "1" },
            workingDirectory: root);
        return (await script.WaitForExitAsync(ScriptBound), script);
    }
}
