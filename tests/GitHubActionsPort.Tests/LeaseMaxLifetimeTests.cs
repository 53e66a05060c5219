using GitHubActionsPort.Agent.Cli;
using Grpc.Core;
using Grpc.Net.Client;
using BrokerClient = GitHubActionsPort.Protocol.V1.Broker.BrokerClient;

namespace GitHubActionsPort.Tests;

/// <summary>A rule's MaxTtl caps a lease's whole life, renewals included (as Vault's token_max_ttl).</summary>
public sealed class LeaseMaxLifetimeTests : TunnelFixture
{
    protected override void Configure(Dictionary<string, string?> configuration) =>
        configuration["Broker:Rules:0:MaxTtl"] = "00:00:04";

    [Test]
    public async Task RenewalReachesTheRulesMaxTtl_ThenIsRefused()
    {
        using var channel = GrpcChannel.ForAddress(Broker.Address);
        using var session = await RawSession.OpenAsync(new BrokerClient(channel), Issuer.MintToken("ghaport"), ["echo"], TimeSpan.FromSeconds(3));
        var granted = session.Lease;

        var renewed = await session.RenewAsync(Issuer.MintToken("ghaport"), TimeSpan.FromMinutes(10));
        var refusal = Assert.ThrowsAsync<RpcException>(() => session.RenewAsync(Issuer.MintToken("ghaport")));

        Assert.That(renewed.ExpiresAt, Is.EqualTo(granted.MaxExpiresAt), "a renewal stops at the cap, whatever was asked");
        Assert.That(refusal!.StatusCode, Is.EqualTo(StatusCode.FailedPrecondition));
        Assert.That(refusal.Status.Detail, Does.Contain("maximum life").And.Contain("open a new session"));
    }

    [Test]
    public async Task AgentAtTheRulesMaxTtl_StopsRenewing_ThenTheLeaseEnds()
    {
        await using var agent = await AgentUnderTest.StartAsync(
            Broker.Address, ["0:echo"], AgentUnderTest.GitHubEnvironment(Issuer), extraArgs: ["--ttl", "00:00:03"], echo: TestContext.Progress);

        // The first renewal reaches the 4 s cap; the agent then knows no renewal can help, and the lease ends there.
        await agent.Logs.WaitForAsync(e => e.EventId.Name == "LeaseAtMaximumLife").DefaultTimeout();
        var exitCode = await agent.Exit.DefaultTimeout();

        Assert.That(exitCode, Is.EqualTo(ExitCodes.LeaseEnded));
        Assert.That(agent.Logs.Entries.Count(e => e.EventId.Name == "LeaseRenewed"), Is.LessThanOrEqualTo(1), "no renewal may reach past the cap");
    }
}
