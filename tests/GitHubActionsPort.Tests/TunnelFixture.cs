using GitHubActionsPort.Broker.DevIssuer;

namespace GitHubActionsPort.Tests;

/// <summary>
/// A dev issuer, an echo target and a broker, started once per fixture; each test starts its own agent. A test
/// fails if the broker logged an error it did not expect.
/// </summary>
public abstract class TunnelFixture(string lane = "auto")
{
    /// <summary>The agent's <c>--lane</c>: fixtures that run once per lane pass <c>raw</c> and <c>grpc</c>.</summary>
    protected string Lane { get; } = lane;

    protected DevIssuer Issuer { get; private set; } = null!;

    protected TcpTestServer Echo { get; private set; } = null!;

    protected BrokerUnderTest Broker { get; private set; } = null!;

    /// <summary>Targets besides <c>echo</c>, name to HOST:PORT.</summary>
    protected virtual Dictionary<string, string> ExtraTargets() => [];

    /// <summary>Adjusts the broker's configuration before it starts.</summary>
    protected virtual void Configure(Dictionary<string, string?> configuration)
    {
    }

    [OneTimeSetUp]
    public async Task StartBrokerAsync()
    {
        Issuer = await DevIssuer.StartAsync().DefaultTimeout();
        Echo = TcpTestServer.Echo();
        var targets = new Dictionary<string, string>(ExtraTargets()) { ["echo"] = Echo.Address };
        var configuration = BrokerUnderTest.DefaultConfiguration(Issuer.Issuer, targets);
        Configure(configuration);
        Broker = await BrokerUnderTest.StartAsync(configuration, TestContext.Progress);
    }

    [OneTimeTearDown]
    public async Task StopBrokerAsync()
    {
        await Broker.DisposeAsync();
        await Echo.DisposeAsync();
        await Issuer.DisposeAsync();
    }

    private readonly List<Func<LogEntry, bool>> _expectedBrokerErrors = [];
    private int _brokerErrorsBefore;

    [SetUp]
    public void NoteBrokerErrors()
    {
        _brokerErrorsBefore = Broker.Logs.Errors.Count();
        _expectedBrokerErrors.Clear();
    }

    /// <summary>An error the test provokes on purpose (and asserts itself): the check after the test lets it pass.</summary>
    protected void ExpectBrokerError(Func<LogEntry, bool> match) => _expectedBrokerErrors.Add(match);

    [TearDown]
    public void NoUnexpectedBrokerErrors()
    {
        var errors = Broker.Logs.Errors.Skip(_brokerErrorsBefore).Where(e => !_expectedBrokerErrors.Any(expected => expected(e))).ToList();
        Assert.That(errors, Is.Empty, "The broker logged errors:" + Environment.NewLine + string.Join(Environment.NewLine, errors));
    }

    private readonly List<string> _tokenFiles = [];

    [TearDown]
    public void DeleteTokenFiles()
    {
        foreach (var file in _tokenFiles)
        {
            File.Delete(file);
        }

        _tokenFiles.Clear();
    }

    /// <summary>Writes <paramref name="token"/> to a temp file for <c>--id-token-file</c>; deleted after the test.</summary>
    protected string TokenFile(string token)
    {
        var path = Path.Combine(Path.GetTempPath(), "ghaport-test-token-" + Guid.NewGuid().ToString("N"));
        File.WriteAllText(path, token);
        _tokenFiles.Add(path);
        return path;
    }

    /// <summary>Starts an agent forwarding a free loopback port to each target, the GitHub Actions way.</summary>
    protected Task<AgentUnderTest> StartAgentAsync(params string[] targets) =>
        AgentUnderTest.StartAsync(Broker.Address, targets.Select(t => $"0:{t}").ToList(), AgentUnderTest.GitHubEnvironment(Issuer), extraArgs: ["--lane", Lane], echo: TestContext.Progress);
}
