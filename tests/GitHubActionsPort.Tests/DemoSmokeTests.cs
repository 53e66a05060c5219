using System.Text.RegularExpressions;

namespace GitHubActionsPort.Tests;

/// <summary>
/// The demo end to end, as a user runs it (<c>build.ps1 demo --target echo</c>): it exits 0, and what it says at the
/// end about the lease is what the broker saw happen to it.
/// </summary>
public sealed partial class DemoSmokeTests
{
    [Test]
    public async Task EchoDemo_ExitsZero_AndSaysTheAgentClosedItsLease()
    {
        await using var harness = ChildProcess.Start("ghaport-harness.dll", ["demo", "--target", "echo"]);
        var exitCode = await harness.WaitForExitAsync(TimeSpan.FromMinutes(2));

        Assert.That(exitCode, Is.Zero, harness.Describe());
        var closed = harness.Output.Lines.Select(l => ClosedByTheAgent().Match(l)).FirstOrDefault(m => m.Success);
        Assert.That(closed, Is.Not.Null, "the agent closes its lease on SIGTERM, and the demo says so: " + harness.Describe());
        var leaseId = closed!.Groups["lease"].Value;
        Assert.That(harness.Output.Lines, Has.Some.Contains($"granted lease {leaseId}"), harness.Describe());
        Assert.That(harness.Output.Lines.Last(l => l.Length > 0), Does.Contain($"lease {leaseId} at the broker, and exited 0"), harness.Describe());
        Assert.That(harness.Output.Lines, Has.None.Contains("lapses"), "the lease did not lapse: the agent closed it");
    }

    [GeneratedRegex(@"lease (?<lease>lse_[0-9a-f]+) closed by the agent", RegexOptions.CultureInvariant)]
    private static partial Regex ClosedByTheAgent();
}
