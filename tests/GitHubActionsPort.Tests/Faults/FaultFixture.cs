namespace GitHubActionsPort.Tests.Faults;

/// <summary>
/// A <see cref="TunnelFixture"/> (dev issuer, echo target, in-process broker) whose audit trail is at a known path, so
/// a test can read what the broker recorded; agents start through <see cref="FaultAgent"/>, on the lane under test.
/// </summary>
public abstract class FaultFixture(string lane) : TunnelFixture(lane)
{
    private readonly List<IAsyncDisposable> _targets = [];

    /// <summary>The broker's audit trail.</summary>
    protected string AuditPath { get; } = BrokerUnderTest.TempAuditPath();

    protected override void Configure(Dictionary<string, string?> configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        configuration["Broker:Audit:Path"] = AuditPath;
    }

    /// <summary>Keeps a target made for <see cref="TunnelFixture.ExtraTargets"/> until the fixture ends.</summary>
    protected T Target<T>(T target)
        where T : IAsyncDisposable
    {
        _targets.Add(target);
        return target;
    }

    [OneTimeTearDown]
    public async Task StopTargetsAsync()
    {
        foreach (var target in _targets)
        {
            await target.DisposeAsync();
        }
    }

    [OneTimeTearDown]
    public void DeleteAuditTrail()
    {
        // Runs before the base fixture stops the broker; Linux lets an open file's folder go.
        try
        {
            Directory.Delete(Path.GetDirectoryName(AuditPath)!, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a temp folder left behind harms nothing.
        }
    }

    /// <summary>Starts an agent (GitHub Actions token source) forwarding a free loopback port to each target.</summary>
    protected Task<AgentUnderTest> StartFaultAgentAsync(params string[] targets) =>
        FaultAgent.StartAsync(Lane, Broker.Address, targets, AgentUnderTest.GitHubEnvironment(Issuer));
}
