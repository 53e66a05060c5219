using GitHubActionsPort.Broker.Auth;
using GitHubActionsPort.Broker.Configuration;
using GitHubActionsPort.Broker.Policy;

namespace GitHubActionsPort.Tests;

/// <summary>Deny by default, grant whole or deny whole, and the lease's length and width come from the rules.</summary>
public sealed class AccessPolicyTests
{
    private static readonly TimeSpan DefaultTtl = TimeSpan.FromMinutes(15);
    private static readonly TimeSpan LeasesMaxTtl = TimeSpan.FromHours(2);

    private static readonly CallerIdentity AcmeAppMain = Caller(("repository", "acme/app"), ("ref", "refs/heads/main"), ("environment", "production"));

    [Test]
    public void AllTargetsPermitted_IsAllowed_NamingTheGrantingRule()
    {
        var policy = Policy(Rule("deploy", ["db", "api"], ("repository", ["acme/app"])));

        var decision = policy.Decide(AcmeAppMain, ["db", "api"], null);

        Assert.That(decision.Allowed, Is.True);
        Assert.That(decision.Reason, Is.Null);
        Assert.That(decision.Rules, Has.Count.EqualTo(1).And.Contains("deploy"));
    }

    [Test]
    public void OneTargetNotPermitted_DeniesTheWholeRequest_NamingThatTarget()
    {
        var policy = Policy(Rule("deploy", ["db"], ("repository", ["acme/app"])), Rule("other", ["secret"], ("repository", ["acme/other"])));

        var decision = policy.Decide(AcmeAppMain, ["db", "secret"], null);

        Assert.That(decision.Allowed, Is.False);
        Assert.That(decision.Ttl, Is.EqualTo(TimeSpan.Zero));
        Assert.That(decision.MaxConnections, Is.Zero);
        Assert.That(decision.Reason, Does.Contain("'secret'").And.Not.Contain("'db'"));
    }

    [Test]
    public void Denial_NamesTheCallersIdentity_ButNotThePolicy()
    {
        var policy = Policy(Rule("secret-rule", ["db"], ("repository", ["acme/other"])));

        var decision = policy.Decide(AcmeAppMain, ["db"], null);

        Assert.That(decision.Allowed, Is.False);
        Assert.That(decision.Reason, Does.Contain("repository=acme/app").And.Contain("ref=refs/heads/main").And.Contain("environment=production"));
        Assert.That(decision.Reason, Does.Not.Contain("secret-rule").And.Not.Contain("acme/other"));
    }

    [Test]
    public void UnknownTarget_AndForbiddenTarget_GetTheSameReason()
    {
        var policy = Policy(Rule("deploy", ["db"], ("repository", ["acme/app"])), Rule("other", ["secret"], ("repository", ["acme/other"])));

        var forbidden = policy.Decide(AcmeAppMain, ["secret"], null);
        var unknown = policy.Decide(AcmeAppMain, ["nosuch"], null);

        Assert.That(forbidden.Allowed, Is.False);
        Assert.That(unknown.Allowed, Is.False);
        Assert.That(unknown.Reason!.Replace("'nosuch'", "'secret'", StringComparison.Ordinal), Is.EqualTo(forbidden.Reason));
    }

    [Test]
    public void NoRules_DeniesEverything()
    {
        var decision = Policy().Decide(AcmeAppMain, ["db"], null);

        Assert.That(decision.Allowed, Is.False);
    }

    [Test]
    public void NoTtlRequested_GetsDefaultTtl()
    {
        var decision = Policy(Rule("deploy", ["db"], ("repository", ["acme/app"]))).Decide(AcmeAppMain, ["db"], null);

        Assert.That(decision.Ttl, Is.EqualTo(DefaultTtl));
    }

    [Test]
    public void ShorterTtlRequested_IsHonoured()
    {
        var decision = Policy(Rule("deploy", ["db"], ("repository", ["acme/app"]), maxTtl: TimeSpan.FromMinutes(30)))
            .Decide(AcmeAppMain, ["db"], TimeSpan.FromMinutes(5));

        Assert.That(decision.Ttl, Is.EqualTo(TimeSpan.FromMinutes(5)));
    }

    [Test]
    public void LongerTtlRequested_IsCappedByTheRule()
    {
        var decision = Policy(Rule("deploy", ["db"], ("repository", ["acme/app"]), maxTtl: TimeSpan.FromMinutes(30)))
            .Decide(AcmeAppMain, ["db"], TimeSpan.FromHours(1));

        Assert.That(decision.Ttl, Is.EqualTo(TimeSpan.FromMinutes(30)));
    }

    [Test]
    public void DefaultTtlLongerThanRuleMaxTtl_IsCappedByTheRule()
    {
        var decision = Policy(Rule("deploy", ["db"], ("repository", ["acme/app"]), maxTtl: TimeSpan.FromMinutes(10)))
            .Decide(AcmeAppMain, ["db"], null);

        Assert.That(decision.Ttl, Is.EqualTo(TimeSpan.FromMinutes(10)));
    }

    [Test]
    public void RuleMaxTtlAboveLeasesMaxTtl_IsCappedByLeasesMaxTtl()
    {
        var decision = Policy(Rule("deploy", ["db"], ("repository", ["acme/app"]), maxTtl: TimeSpan.FromHours(10)))
            .Decide(AcmeAppMain, ["db"], TimeSpan.FromHours(8));

        Assert.That(decision.Ttl, Is.EqualTo(LeasesMaxTtl));
    }

    [Test]
    public void RuleWithoutMaxTtl_IsCappedByLeasesMaxTtl()
    {
        var decision = Policy(Rule("deploy", ["db"], ("repository", ["acme/app"]))).Decide(AcmeAppMain, ["db"], TimeSpan.FromHours(8));

        Assert.That(decision.Ttl, Is.EqualTo(LeasesMaxTtl));
    }

    [Test]
    public void MaxConnections_ComesFromTheRule()
    {
        var decision = Policy(Rule("deploy", ["db"], ("repository", ["acme/app"]), maxConnections: 3)).Decide(AcmeAppMain, ["db"], null);

        Assert.That(decision.MaxConnections, Is.EqualTo(3));
    }

    [Test]
    public void TargetsFromTwoRules_GetTheStricterTtlAndConnectionCap()
    {
        var policy = Policy(
            Rule("db-rule", ["db"], ("repository", ["acme/app"]), maxTtl: TimeSpan.FromMinutes(20), maxConnections: 10),
            Rule("api-rule", ["api"], ("repository", ["acme/app"]), maxTtl: TimeSpan.FromMinutes(5), maxConnections: 4));

        var decision = policy.Decide(AcmeAppMain, ["db", "api"], TimeSpan.FromHours(1));

        Assert.That(decision.Allowed, Is.True);
        Assert.That(decision.Ttl, Is.EqualTo(TimeSpan.FromMinutes(5)));
        Assert.That(decision.MaxConnections, Is.EqualTo(4));
        Assert.That(decision.Rules, Has.Count.EqualTo(2).And.Contains("db-rule").And.Contains("api-rule"));
    }

    [Test]
    public void SeveralRulesOpeningOneTarget_TheMostGenerousApplies()
    {
        var policy = Policy(
            Rule("narrow", ["db"], ("repository", ["acme/*"]), maxTtl: TimeSpan.FromMinutes(5), maxConnections: 2),
            Rule("wide", ["db"], ("repository", ["acme/app"]), maxTtl: TimeSpan.FromMinutes(30), maxConnections: 20));

        var decision = policy.Decide(AcmeAppMain, ["db"], TimeSpan.FromHours(1));

        Assert.That(decision.Ttl, Is.EqualTo(TimeSpan.FromMinutes(30)));
        Assert.That(decision.MaxConnections, Is.EqualTo(20));
    }

    [Test]
    public void RuleWhoseClaimsDoNotMatch_DoesNotLendItsTargets()
    {
        var policy = Policy(
            Rule("mine", ["db"], ("repository", ["acme/app"])),
            Rule("theirs", ["secret"], ("repository", ["acme/app"]), ("environment", ["staging"])));

        var decision = policy.Decide(AcmeAppMain, ["secret"], null);

        Assert.That(decision.Allowed, Is.False);
    }

    [TestCase("refs/heads/main", ExpectedResult = true)]
    [TestCase("refs/heads/release/1.2", ExpectedResult = true)]
    [TestCase("refs/heads/feature", ExpectedResult = false)]
    public bool PatternsOfOneClaim_AreAlternatives(string gitRef) =>
        AccessPolicy.Matches(Rule("r", ["db"], ("ref", ["refs/heads/main", "refs/heads/release/*"])), Caller(("repository", "acme/app"), ("ref", gitRef)));

    [TestCase("acme/app", "refs/heads/main", ExpectedResult = true)]
    [TestCase("acme/app", "refs/heads/feature", ExpectedResult = false)]
    [TestCase("acme/other", "refs/heads/main", ExpectedResult = false)]
    public bool EveryClaimOfARule_MustMatch(string repository, string gitRef) =>
        AccessPolicy.Matches(Rule("r", ["db"], ("repository", ["acme/app"]), ("ref", ["refs/heads/main"])), Caller(("repository", repository), ("ref", gitRef)));

    [Test]
    public void MissingClaim_NeverMatches_EvenADoubleStar()
    {
        var rule = Rule("r", ["db"], ("repository", ["acme/app"]), ("environment", ["**"]));

        Assert.That(AccessPolicy.Matches(rule, Caller(("repository", "acme/app"))), Is.False);
        Assert.That(AccessPolicy.Matches(rule, Caller(("repository", "acme/app"), ("environment", "production"))), Is.True);
    }

    [Test]
    public void ClaimsTheRuleDoesNotMention_DoNotMatter()
    {
        var rule = Rule("r", ["db"], ("repository", ["acme/app"]));

        Assert.That(AccessPolicy.Matches(rule, Caller(("repository", "acme/app"), ("actor", "mallory"), ("ref", "refs/heads/x"))), Is.True);
    }

    [Test]
    public void RuleOfOneIssuer_DoesNotAdmitTheSameClaimsFromAnother()
    {
        var policy = Policy(Rule("deploy", ["db"], ("repository", ["acme/app"])));

        var sameClaimsOtherIssuer = policy.Decide(CallerOf(OtherIssuer, ("repository", "acme/app")), ["db"], null);
        var rightIssuer = policy.Decide(Caller(("repository", "acme/app")), ["db"], null);

        Assert.That(sameClaimsOtherIssuer.Allowed, Is.False, "acme/app at another issuer is another owner");
        Assert.That(rightIssuer.Allowed, Is.True);
    }

    [Test]
    public void RuleOfSeveralIssuers_AdmitsEachOfThem()
    {
        var rule = Rule("deploy", ["db"], ("repository", ["acme/app"])) with { Issuers = [GitHubIssuer, OtherIssuer] };

        Assert.That(AccessPolicy.Matches(rule, CallerOf(GitHubIssuer, ("repository", "acme/app"))), Is.True);
        Assert.That(AccessPolicy.Matches(rule, CallerOf(OtherIssuer, ("repository", "acme/app"))), Is.True);
        Assert.That(AccessPolicy.Matches(rule, CallerOf("https://third.example", ("repository", "acme/app"))), Is.False);
    }

    [TestCase("refs/heads/wip/x", ExpectedResult = false, TestName = "NotClaims_MatchingValue_ExcludesTheToken")]
    [TestCase("refs/heads/main", ExpectedResult = true, TestName = "NotClaims_OtherValue_DoesNotExclude")]
    [TestCase("refs/heads/wip", ExpectedResult = true, TestName = "NotClaims_PatternIsAnchored_LikeClaims")]
    public bool NotClaims_ExcludeMatchingTokens(string gitRef) =>
        AccessPolicy.Matches(WithNotClaims(Rule("r", ["db"], ("repository", ["acme/app"])), ("ref", ["refs/heads/wip/**", "refs/heads/tmp"])), Caller(("repository", "acme/app"), ("ref", gitRef)));

    [Test]
    public void NotClaims_MissingClaim_DoesNotExclude()
    {
        var rule = WithNotClaims(Rule("r", ["db"], ("repository", ["acme/app"])), ("environment", ["**"]));

        Assert.That(AccessPolicy.Matches(rule, Caller(("repository", "acme/app"))), Is.True);
        Assert.That(AccessPolicy.Matches(rule, Caller(("repository", "acme/app"), ("environment", "sandbox"))), Is.False);
    }

    [Test]
    public void NotClaims_AnyListedClaimMatching_Excludes()
    {
        var rule = WithNotClaims(Rule("r", ["db"], ("repository", ["acme/app"])), ("ref", ["refs/heads/wip/**"]), ("actor", ["dependabot[bot]"]));

        Assert.That(AccessPolicy.Matches(rule, Caller(("repository", "acme/app"), ("ref", "refs/heads/main"), ("actor", "dependabot[bot]"))), Is.False);
        Assert.That(AccessPolicy.Matches(rule, Caller(("repository", "acme/app"), ("ref", "refs/heads/main"), ("actor", "octocat"))), Is.True);
    }

    [TestCase("pull_request")]
    [TestCase("pull_request_target")]
    [TestCase("workflow_run")]
    [TestCase("issue_comment")]
    [TestCase("pull_request_review")]
    [TestCase("pull_request_review_comment")]
    [TestCase("issues")]
    [TestCase("discussion_comment")]
    [TestCase("check_run")]
    [TestCase("deployment_status")]
    [TestCase("an_event_github_adds_next_year")]
    [TestCase("Push")]
    [TestCase("PULL_REQUEST_TARGET")]
    [TestCase("push ")]
    [TestCase("")]
    public void ForkOrCrossRefEvent_RuleSilentOnEvents_DoesNotMatch(string eventName)
    {
        var rule = Rule("r", ["db"], ("repository", ["acme/app"]), ("ref", ["refs/heads/main"]));

        Assert.That(AccessPolicy.Matches(rule, Caller(("repository", "acme/app"), ("ref", "refs/heads/main"), ("event_name", eventName))), Is.False);
        Assert.That(AccessPolicy.Matches(rule, Caller(("repository", "acme/app"), ("ref", "refs/heads/main"), ("event_name", "push"))), Is.True);
    }

    [TestCase("push")]
    [TestCase("workflow_dispatch")]
    [TestCase("schedule")]
    [TestCase("release")]
    [TestCase("merge_group")]
    [TestCase("repository_dispatch")]
    [TestCase("create")]
    [TestCase("delete")]
    public void TrustedEvent_RuleSilentOnEvents_Matches(string eventName)
    {
        var rule = Rule("r", ["db"], ("repository", ["acme/app"]), ("ref", ["refs/heads/main"]));

        Assert.That(AccessPolicy.Matches(rule, Caller(("repository", "acme/app"), ("ref", "refs/heads/main"), ("event_name", eventName))), Is.True);
    }

    [TestCase("Pull_Request_Target", "pull_request_target", ExpectedResult = false, TestName = "Event_OtherCaseThanTheRulesListing_DoesNotMatch")]
    [TestCase("pull_request_target", "Pull_Request_Target", ExpectedResult = false, TestName = "Event_RuleListingItInOtherCase_DoesNotMatch")]
    [TestCase("Push", "Push", ExpectedResult = true, TestName = "Event_UnknownButListedByExactName_Matches")]
    [TestCase("pull_request_review", "pull_request_review", ExpectedResult = true, TestName = "Event_ReviewListedByName_Matches")]
    public bool Event_IsComparedOrdinally(string tokenEvent, string listed) =>
        AccessPolicy.Matches(
            Rule("r", ["db"], ("repository", ["acme/app"]), ("event_name", [listed])),
            Caller(("repository", "acme/app"), ("event_name", tokenEvent)));

    [TestCase(true, TestName = "EventNameNotAString_RuleListingTheEvent_DoesNotMatch")]
    [TestCase(false, TestName = "EventNameNotAString_RuleSilentOnEvents_DoesNotMatch")]
    public void EventNameNotAString_NeverMatches(bool ruleListsEvent)
    {
        var rule = ruleListsEvent
            ? Rule("r", ["db"], ("repository", ["acme/app"]), ("event_name", ["push", "pull_request_target", "**"]))
            : Rule("r", ["db"], ("repository", ["acme/app"]));
        // As TokenPayload reads a token whose event_name is ["push"] or 1: not among the string claims, but there.
        var caller = new CallerIdentity(GitHubIssuer, "repo:acme/app", Guid.NewGuid().ToString(), DateTimeOffset.UtcNow.AddMinutes(5),
            new Dictionary<string, string> { ["repository"] = "acme/app" }, new HashSet<string> { "event_name" });

        var evaluation = RuleEvaluation.Of(rule, caller);

        Assert.That(evaluation.Matches, Is.False);
        Assert.That(evaluation.Event, Is.EqualTo(new EventCheck(null, true, false, NotAString: true)));
        Assert.That(AccessPolicy.Matches(rule, Caller(("repository", "acme/app"), ("event_name", "push"))), Is.True, "control: the string push matches");
    }

    [TestCase("*", ExpectedResult = false, TestName = "ForkEvent_RuleEventWildcard_DoesNotCount")]
    [TestCase("pull_*", ExpectedResult = false, TestName = "ForkEvent_RuleEventPrefixWildcard_DoesNotCount")]
    [TestCase("pull_request_targe?", ExpectedResult = false, TestName = "ForkEvent_RuleEventQuestionMark_DoesNotCount")]
    [TestCase("**", ExpectedResult = false, TestName = "ForkEvent_RuleEventDoubleStar_DoesNotCount")]
    [TestCase("pull_request", ExpectedResult = false, TestName = "ForkEvent_RuleListingAnotherForkEvent_DoesNotCount")]
    [TestCase("pull_request_target", ExpectedResult = true, TestName = "ForkEvent_RuleListingItByName_Matches")]
    public bool ForkEvent_IsAdmittedOnlyWhenListedLiterally(string eventPattern) =>
        AccessPolicy.Matches(
            Rule("r", ["db"], ("repository", ["acme/app"]), ("event_name", ["push", eventPattern])),
            Caller(("repository", "acme/app"), ("event_name", "pull_request_target")));

    [Test]
    public void ForkEventDenial_NamesTargetAndIdentityWithEvent_NotThePolicy()
    {
        var policy = Policy(Rule("main-only", ["db"], ("repository", ["acme/app"]), ("ref", ["refs/heads/main"])));

        var decision = policy.Decide(Caller(("repository", "acme/app"), ("ref", "refs/heads/main"), ("event_name", "pull_request_target")), ["db"], null);

        Assert.That(decision.Allowed, Is.False);
        Assert.That(decision.Reason, Does.Contain("'db'").And.Contain("repository=acme/app").And.Contain("event_name=pull_request_target"));
        Assert.That(decision.Reason, Does.Not.Contain("main-only"));
    }

    [Test]
    public void Evaluation_ReportsEachCheck()
    {
        var rule = WithNotClaims(Rule("r", ["db"], ("repository", ["acme/*"]), ("ref", ["refs/heads/main"])), ("actor", ["mallory"]));

        var evaluation = RuleEvaluation.Of(rule, Caller(("repository", "acme/app"), ("actor", "mallory"), ("event_name", "push")));

        Assert.That(evaluation.Matches, Is.False);
        Assert.That(evaluation.IssuerMatches, Is.True);
        Assert.That(evaluation.Claims.Single(c => c.Claim == "repository"), Is.EqualTo(new ClaimCheck("repository", "acme/app", rule.Claims["repository"], true)));
        Assert.That(evaluation.Claims.Single(c => c.Claim == "ref").Value, Is.Null, "a missing claim has no value");
        Assert.That(evaluation.Claims.Single(c => c.Claim == "ref").Matched, Is.False);
        Assert.That(evaluation.NotClaims.Single().Matched, Is.True);
        Assert.That(evaluation.Event, Is.EqualTo(new EventCheck("push", false, true)));
    }

    [Test]
    public void ReplacedPolicy_IsUsedByTheNextDecision_AndTargetLookup()
    {
        var store = new PolicyStore(Settings(Rule("deploy", ["db"], ("repository", ["acme/app"]))));
        var policy = new AccessPolicy(store);
        Assert.That(policy.Decide(AcmeAppMain, ["db"], null).Allowed, Is.True);

        store.Replace(store.Current with
        {
            Targets = new Dictionary<string, TargetAddress> { ["db"] = new("db2.internal", 5433) },
            Rules = [Rule("other", ["db"], ("repository", ["acme/other"]))],
        });

        Assert.That(policy.Decide(AcmeAppMain, ["db"], null).Allowed, Is.False);
        Assert.That(policy.TryGetTarget("db", out var address), Is.True);
        Assert.That(address, Is.EqualTo(new TargetAddress("db2.internal", 5433)));
    }

    [Test]
    public void UnboundedTtlRequest_IsCappedByTheRule()
    {
        var decision = Policy(Rule("deploy", ["db"], ("repository", ["acme/app"]), maxTtl: TimeSpan.FromMinutes(30))).Decide(AcmeAppMain, ["db"], TimeSpan.MaxValue);

        Assert.That(decision.Ttl, Is.EqualTo(TimeSpan.FromMinutes(30)));
    }

    [Test]
    public void EmptyRequest_IsDenied()
    {
        var decision = Policy(Rule("deploy", ["db"], ("repository", ["acme/app"]))).Decide(AcmeAppMain, [], null);

        Assert.That(decision.Allowed, Is.False);
    }

    private const string GitHubIssuer = "https://token.actions.githubusercontent.com";
    private const string OtherIssuer = "https://ghes.example.com/_services/token";

    private static AccessPolicy Policy(params RuleSettings[] rules) => new(new PolicyStore(Settings(rules)));

    private static BrokerSettings Settings(params RuleSettings[] rules) => new()
    {
        Issuers =
        [
            new IssuerSettings { Issuer = GitHubIssuer, Audiences = ["ghaport"] },
            new IssuerSettings { Issuer = OtherIssuer, Audiences = ["ghaport"] },
        ],
        Targets = new Dictionary<string, TargetAddress>
        {
            ["db"] = new("db.internal", 5432),
            ["api"] = new("api.internal", 443),
            ["secret"] = new("secret.internal", 5432),
        },
        Rules = rules,
        Leases = new LeaseSettings { DefaultTtl = DefaultTtl, MaxTtl = LeasesMaxTtl },
    };

    private static RuleSettings WithNotClaims(RuleSettings rule, params (string Claim, string[] Patterns)[] notClaims) => rule with
    {
        NotClaims = notClaims.ToDictionary(c => c.Claim, c => (IReadOnlyList<ClaimPattern>)c.Patterns.Select(Parse).ToList()),
    };

    private static RuleSettings Rule(string name, string[] targets, params (string Claim, string[] Patterns)[] claims) =>
        Rule(name, targets, claims, null, 16);

    private static RuleSettings Rule(string name, string[] targets, (string Claim, string[] Patterns) claim, TimeSpan? maxTtl = null, int maxConnections = 16) =>
        Rule(name, targets, [claim], maxTtl, maxConnections);

    private static RuleSettings Rule(string name, string[] targets, (string Claim, string[] Patterns)[] claims, TimeSpan? maxTtl, int maxConnections) => new()
    {
        Name = name,
        Issuers = [GitHubIssuer],
        Targets = targets,
        Claims = claims.ToDictionary(c => c.Claim, c => (IReadOnlyList<ClaimPattern>)c.Patterns.Select(Parse).ToList()),
        MaxTtl = maxTtl,
        MaxConnections = maxConnections,
    };

    private static ClaimPattern Parse(string text) =>
        ClaimPattern.TryParse(text, out var pattern, out var error) ? pattern! : throw new ArgumentException(error, nameof(text));

    private static CallerIdentity Caller(params (string Name, string Value)[] claims) => CallerOf(GitHubIssuer, claims);

    private static CallerIdentity CallerOf(string issuer, params (string Name, string Value)[] claims) =>
        new(issuer, "repo:acme/app:ref:refs/heads/main", Guid.NewGuid().ToString(), DateTimeOffset.UtcNow.AddMinutes(5),
            claims.ToDictionary(c => c.Name, c => c.Value));
}
