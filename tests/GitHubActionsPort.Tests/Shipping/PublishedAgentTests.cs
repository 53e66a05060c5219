using System.Net.Sockets;
using System.Xml.Linq;

namespace GitHubActionsPort.Tests.Shipping;

/// <summary>
/// The agent as a release ships it (<see cref="PublishedAgent"/>: Native AOT for this machine) run the way a runner
/// with no .NET runs it: an environment holding only what the test gives (no <c>dotnet</c> on <c>PATH</c>, no
/// <c>DOTNET_ROOT</c>, a throwaway <c>HOME</c>), once per data lane, through a real broker to an echo target.
/// </summary>
[TestFixture("raw")]
[TestFixture("grpc")]
public sealed class PublishedAgentTests(string lane) : TunnelFixture(lane)
{
    private string _agent = null!;
    private string _home = null!;

    [OneTimeSetUp]
    public async Task PublishAsync() => _agent = await PublishedAgent.PathAsync();

    [SetUp]
    public void CreateHome() => _home = Directory.CreateTempSubdirectory("ghaport-bare-home-").FullName;

    [TearDown]
    public void DeleteHome() => Directory.Delete(_home, recursive: true);

    [Test]
    public void Published_IsOneNativeFile_WithNoManagedAssemblyOrRuntimeBesideIt()
    {
        // A framework-dependent apphost would find the machine's .NET by itself (in /usr/share/dotnet), bare
        // environment or not; so the folder must hold nothing a .NET host loads.
        var folder = Path.GetDirectoryName(_agent)!;
        var managed = Directory.GetFiles(folder)
            .Select(Path.GetFileName)
            .Where(name => name!.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) || name.EndsWith(".runtimeconfig.json", StringComparison.OrdinalIgnoreCase)
                || name.EndsWith(".deps.json", StringComparison.OrdinalIgnoreCase) || name.Contains("coreclr", StringComparison.OrdinalIgnoreCase))
            .ToList();
        Assert.That(managed, Is.Empty);
    }

    [Test]
    public async Task Version_InBareEnvironment_PrintsTheVersionOfDirectoryBuildProps()
    {
        await using var agent = Start(["--version"], []);

        Assert.That(await agent.WaitForExitAsync(), Is.Zero, agent.Describe());
        Assert.That(agent.Output.Lines, Has.Count.EqualTo(1), agent.Describe());
        // "ghaport 0.2.0" or with the commit: "ghaport 0.2.0+<sha>".
        Assert.That(agent.Output.Lines[0], Does.Match("^ghaport " + System.Text.RegularExpressions.Regex.Escape(ReleaseVersion()) + @"(\+[0-9a-f]+)?$"));
    }

    [Test]
    public async Task Up_InBareEnvironment_CarriesBytesBothWaysThroughTheBroker()
    {
        await using var agent = Start(
            ["up", "--broker", Broker.Address.ToString(), "--forward", "0:echo", "--lane", Lane, "--timeout", "5m"],
            AgentUnderTest.GitHubEnvironment(Issuer));
        var ready = await agent.WaitForOutputAsync(line => line.StartsWith("ready ", StringComparison.Ordinal));
        Assert.That(ReadyLine.TryParse(ready, out var forward, out var target), Is.True, ready);
        Assert.That(target, Is.EqualTo("echo"));

        // Enough to cross many frames and socket buffers each way; the echo sends every byte back.
        var sent = SocketIo.RandomBytes((4 * 1024 * 1024) + 13);
        using (var client = await SocketIo.ConnectAsync(forward))
        {
            var received = client.ReadToEndAsync();
            await client.SendAllAsync(sent);
            client.Shutdown(SocketShutdown.Send);
            Assert.That((await received.DefaultTimeout()).AsSpan().SequenceEqual(sent), Is.True, "the echo came back whole and in order");
        }

        // A second connection through the same agent: it keeps serving after the first closed.
        using (var client = await SocketIo.ConnectAsync(forward))
        {
            await client.SendAllAsync("ping"u8.ToArray());
            client.Shutdown(SocketShutdown.Send);
            Assert.That(await client.ReadToEndAsync().DefaultTimeout(), Is.EqualTo("ping"u8.ToArray()));
        }

        if (!OperatingSystem.IsWindows())
        {
            Assert.That(await agent.TerminateAsync(), Is.Zero, agent.Describe());
        }
    }

    /// <summary>The agent with exactly <paramref name="environment"/> plus a PATH that holds no program and a temp HOME.</summary>
    private ChildProcess Start(string[] args, Dictionary<string, string?> environment)
    {
        environment["PATH"] = Path.Combine(_home, "no-programs-here");
        environment["HOME"] = _home;
        environment["TMPDIR"] = _home;
        return ChildProcess.StartProgram(_agent, args, environment, inherit: _ => false, workingDirectory: _home);
    }

    /// <summary>The one version of a release, read from where the build takes it.</summary>
    private static string ReleaseVersion()
    {
        var props = XDocument.Load(Path.Combine(PublishedAgent.RepositoryRoot(), "Directory.Build.props"));
        return props.Descendants("Version").Single().Value;
    }
}
