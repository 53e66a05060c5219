using GitHubActionsPort.Broker.Configuration;
using GitHubActionsPort.Broker.Policy;
using Microsoft.Extensions.Configuration;

namespace GitHubActionsPort.Tests;

/// <summary>Valid rules that admit more than their authors likely meant start the broker with a warning naming the rule and the risk.</summary>
public sealed class PolicyWarningsTests
{
    private const string GitHub = "https://token.actions.githubusercontent.com";
    private const string Enterprise = "https://ghes.example.com/_services/token";

    [Test]
    public void RuleBoundOnlyByOwner_IsARisk()
    {
        var risks = RisksOf(("repository_owner", "acme"), ("ref", "refs/heads/main"), ("event_name", "push"));

        Assert.That(risks.Select(r => r.Kind), Is.EquivalentTo(new[] { PolicyRiskKind.OwnerOnly }));
        Assert.That(risks[0].Description, Does.Contain("repository_owner").And.Contain("every repository"));
    }

    [Test]
    public void RuleBoundOnlyByOwnerId_IsARisk()
    {
        Assert.That(RisksOf(("repository_owner_id", "200001")).Select(r => r.Kind), Is.EquivalentTo(new[] { PolicyRiskKind.OwnerOnly }));
    }

    [TestCase("repository_id")]
    [TestCase("repository")]
    [TestCase("job_workflow_ref")]
    public void OwnerWithARepositoryOrWorkflowPin_IsNoRisk(string pin)
    {
        Assert.That(RisksOf(("repository_owner_id", "200001"), (pin, "x")), Is.Empty);
    }

    [Test]
    public void RuleBindingNoRepositoryAndNoOwner_IsARisk()
    {
        var risks = RisksOf(("environment", "production"));

        Assert.That(risks.Select(r => r.Kind), Is.EquivalentTo(new[] { PolicyRiskKind.NoRepositoryBinding }));
    }

    [TestCase("repo:acme/*:ref:refs/heads/main")]
    [TestCase("repo:acme/app:**")]
    [TestCase("repo:acme/app:environment:prod-?")]
    public void SubjectWithAWildcard_IsARisk(string subject)
    {
        var risks = RisksOf(("sub", subject));

        Assert.That(risks.Select(r => r.Kind), Is.EquivalentTo(new[] { PolicyRiskKind.SubjectWildcard }));
        Assert.That(risks[0].Description, Does.Contain(subject));
    }

    [Test]
    public void ExactSubject_IsNoRisk()
    {
        Assert.That(RisksOf(("sub", "repo:acme/app:environment:production")), Is.Empty);
    }

    [Test]
    public void RuleWithoutIssuer_AmongSeveralIssuers_IsARisk_NamingTheKeyToSet()
    {
        var settings = Read(new Dictionary<string, string?>
        {
            ["Broker:Issuers:0:Issuer"] = GitHub,
            ["Broker:Issuers:1:Issuer"] = Enterprise,
            ["Broker:Targets:db"] = "db.internal:5432",
            ["Broker:Rules:0:Name"] = "deploy",
            ["Broker:Rules:0:Targets:0"] = "db",
            ["Broker:Rules:0:Claims:repository_id"] = "100001",
        });

        var risk = PolicyRisks.Of(settings).Single();

        Assert.That(risk.Kind, Is.EqualTo(PolicyRiskKind.SpansIssuers));
        Assert.That(risk.Description, Does.Contain("all 2 configured issuers").And.Contain("Broker:Rules:0:Issuer"));
    }

    [Test]
    public void RuleWithoutIssuer_WithOneIssuer_IsNoRisk()
    {
        var settings = Read(new Dictionary<string, string?>
        {
            ["Broker:Issuers:0:Issuer"] = GitHub,
            ["Broker:Targets:db"] = "db.internal:5432",
            ["Broker:Rules:0:Targets:0"] = "db",
            ["Broker:Rules:0:Claims:repository_id"] = "100001",
        });

        Assert.That(PolicyRisks.Of(settings), Is.Empty);
    }

    [Test]
    public async Task Broker_LogsEachRiskyRuleAtStartUp_NamingTheRuleAndItsKey()
    {
        var configuration = new Dictionary<string, string?>
        {
            ["Broker:Issuers:0:Issuer"] = GitHub,
            ["Broker:Issuers:1:Issuer"] = Enterprise,
            ["Broker:Targets:db"] = "db.internal:5432",
            ["Broker:Rules:0:Name"] = "whole-org",
            ["Broker:Rules:0:Issuer"] = GitHub,
            ["Broker:Rules:0:Targets:0"] = "db",
            ["Broker:Rules:0:Claims:repository_owner"] = "acme",
            ["Broker:Rules:1:Name"] = "any-sub",
            ["Broker:Rules:1:Issuer"] = GitHub,
            ["Broker:Rules:1:Targets:0"] = "db",
            ["Broker:Rules:1:Claims:sub"] = "repo:acme/*:ref:refs/heads/main",
            ["Broker:Rules:2:Name"] = "both-issuers",
            ["Broker:Rules:2:Targets:0"] = "db",
            ["Broker:Rules:2:Claims:repository_id"] = "100001",
            ["Broker:Rules:3:Name"] = "careful",
            ["Broker:Rules:3:Issuer"] = GitHub,
            ["Broker:Rules:3:Targets:0"] = "db",
            ["Broker:Rules:3:Claims:repository_id"] = "100001",
        };

        await using var broker = await BrokerUnderTest.StartAsync(configuration, TestContext.Progress);
        var warnings = broker.Logs.Entries.Where(e => e.EventId.Id is >= 101 and <= 104).ToList();

        Assert.That(warnings.Select(w => (w.EventId.Name, w.Level)), Is.EquivalentTo(new[]
        {
            ("RuleBoundOnlyByOwner", LogLevel.Warning),
            ("RuleSubjectWildcard", LogLevel.Warning),
            ("RuleSpansIssuers", LogLevel.Warning),
        }));
        Assert.That(warnings.Single(w => w.EventId.Name == "RuleBoundOnlyByOwner").Message, Does.StartWith("Rule whole-org (Broker:Rules:0) is bound only by repository_owner"));
        Assert.That(warnings.Single(w => w.EventId.Name == "RuleSubjectWildcard").Message, Does.StartWith("Rule any-sub (Broker:Rules:1)"));
        Assert.That(warnings.Single(w => w.EventId.Name == "RuleSpansIssuers").Message, Does.StartWith("Rule both-issuers (Broker:Rules:2)"));
        Assert.That(warnings, Has.None.Matches<LogEntry>(w => w.Message.Contains("careful", StringComparison.Ordinal)));
    }

    private static List<PolicyRisk> RisksOf(params (string Claim, string Pattern)[] claims)
    {
        var configuration = new Dictionary<string, string?>
        {
            ["Broker:Issuers:0:Issuer"] = GitHub,
            ["Broker:Targets:db"] = "db.internal:5432",
            ["Broker:Rules:0:Targets:0"] = "db",
        };
        foreach (var (claim, pattern) in claims)
        {
            configuration[$"Broker:Rules:0:Claims:{claim}"] = pattern;
        }

        return PolicyRisks.Of(Read(configuration)).ToList();
    }

    private static BrokerSettings Read(Dictionary<string, string?> configuration) =>
        BrokerSettingsReader.Read(new ConfigurationBuilder().AddInMemoryCollection(configuration).Build());
}
