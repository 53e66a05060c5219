using System.Security.Cryptography;
using GitHubActionsPort.Protocol.V1;
using Google.Protobuf;
using Grpc.Core;

namespace GitHubActionsPort.Tests;

/// <summary>
/// Tokens an attacker can really get signed (a fork's pull request, a look-alike repository, odd claim values)
/// tried against the policy through the real gRPC <c>OpenSession</c>: each is refused with PermissionDenied, a
/// reason that names the target and the identity the broker saw (never the policy), and no log line holding the
/// token. Each attack has a control case that the same rule does grant, so a refusal is the policy's doing.
/// </summary>
public sealed class PolicyAttackTests : BrokerClientFixture
{

    protected override void Configure(Dictionary<string, string?> configuration)
    {
        var echo = configuration["Broker:Targets:echo"];
        foreach (var target in new[] { "byid", "prod", "nowip", "prt", "prtwild" })
        {
            configuration[$"Broker:Targets:{target}"] = echo;
        }

        // Rule 0 (from the fixture): repository acme/app opens echo.
        AddRule(configuration, 1, "by-id", "byid", ("Claims:repository_id", "100001"));
        AddRule(configuration, 2, "prod", "prod", ("Claims:repository_id", "100001"), ("Claims:environment", "production"));
        AddRule(configuration, 3, "no-wip", "nowip", ("Claims:repository_id", "100001"), ("NotClaims:ref", "refs/heads/wip/**"));
        AddRule(configuration, 4, "prt", "prt", ("Claims:repository_id", "100001"), ("Claims:event_name:0", "push"), ("Claims:event_name:1", "pull_request_target"));
        AddRule(configuration, 5, "prt-wild", "prtwild", ("Claims:repository_id", "100001"), ("Claims:event_name", "pull_*"));
    }


    [Test]
    public async Task PullRequestTarget_OnMain_AgainstARuleNotListingIt_IsPermissionDenied()
    {
        var token = Mint(("event_name", "pull_request_target"), ("ref", "refs/heads/main"));

        var detail = await AssertDeniedAsync(token, "echo");

        Assert.That(detail, Does.Contain("ref=refs/heads/main").And.Contain("event_name=pull_request_target"));
    }

    [Test]
    public async Task PullRequestTarget_AgainstARuleListingItByWildcardOnly_IsPermissionDenied()
    {
        await AssertDeniedAsync(Mint(("event_name", "pull_request_target")), "prtwild");
    }

    [Test]
    public async Task PullRequestTarget_AgainstARuleListingItByName_IsGranted()
    {
        var lease = await OpenSessionAsync(Mint(("event_name", "pull_request_target")), "prt");

        Assert.That(lease.Targets.Single(), Is.EqualTo("prt"));
    }

    [TestCase("pull_request_review")]
    [TestCase("pull_request_review_comment")]
    [TestCase("issues")]
    [TestCase("Push")]
    public async Task EventNotInTheAllowList_AgainstARuleSilentOnEvents_IsPermissionDenied(string eventName)
    {
        var detail = await AssertDeniedAsync(Mint(("event_name", eventName), ("ref", "refs/heads/main")), "echo");

        Assert.That(detail, Does.Contain("event_name=" + eventName));
        Assert.That((await OpenSessionAsync(Mint(("event_name", "push"), ("ref", "refs/heads/main")), "echo")).Targets.Single(), Is.EqualTo("echo"), "control: push is granted");
    }

    [Test]
    public async Task PullRequestTargetInOtherCase_AgainstARuleListingItByName_IsPermissionDenied()
    {
        await AssertDeniedAsync(Mint(("event_name", "Pull_Request_Target")), "prt");
    }

    private static IEnumerable<TestCaseData> EventNamesNotStrings()
    {
        yield return new TestCaseData((object)new List<string> { "push" }).SetName("EventNameAsArray_IsPermissionDenied");
        yield return new TestCaseData((object)new List<string> { "pull_request_target" }).SetName("EventNameAsArray_AgainstARuleListingTheEvent_IsPermissionDenied");
        yield return new TestCaseData((object)1).SetName("EventNameAsNumber_IsPermissionDenied");
        yield return new TestCaseData((object)new Dictionary<string, object> { ["name"] = "push" }).SetName("EventNameAsObject_IsPermissionDenied");
    }

    [TestCaseSource(nameof(EventNamesNotStrings))]
    public async Task EventNameOfTheWrongJsonType_NeverMatches(object eventName)
    {
        // Read as a missing claim, it would skip the event check and pass every rule that does not name events.
        await AssertDeniedAsync(Mint(("event_name", eventName)), "echo");
        await AssertDeniedAsync(Mint(("event_name", eventName)), "prt");
    }

    [Test]
    public async Task RightRepositoryName_WrongRepositoryId_AgainstARuleBoundByRepositoryId_IsPermissionDenied()
    {
        // A repository deleted and re-created under the same name by someone else keeps the name, not the id.
        var detail = await AssertDeniedAsync(Mint(("repository", "acme/app"), ("repository_id", "999999")), "byid");

        Assert.That(detail, Does.Not.Contain("100001"), "the reason never quotes the policy");
        Assert.That((await OpenSessionAsync(Mint(), "byid")).Targets.Single(), Is.EqualTo("byid"), "control: the right id is granted");
    }

    [TestCase("*")]
    [TestCase("acme/*")]
    [TestCase("**")]
    [TestCase("acme/app*")]
    [TestCase("acme/ap?")]
    public async Task GlobInClaimValue_IsLiteral_AndIsPermissionDenied(string repository)
    {
        await AssertDeniedAsync(Mint(("repository", repository)), "echo");
    }

    private static IEnumerable<TestCaseData> WrongTypes()
    {
        yield return new TestCaseData((object)100001).SetName("RepositoryAsNumber_IsPermissionDenied");
        yield return new TestCaseData((object)new List<string> { "acme/app" }).SetName("RepositoryAsArray_IsPermissionDenied");
        yield return new TestCaseData((object)new Dictionary<string, object> { ["name"] = "acme/app" }).SetName("RepositoryAsObject_IsPermissionDenied");
        yield return new TestCaseData((object)true).SetName("RepositoryAsBoolean_IsPermissionDenied");
    }

    [TestCaseSource(nameof(WrongTypes))]
    public async Task ClaimOfTheWrongJsonType_NeverMatches(object repository)
    {
        var detail = await AssertDeniedAsync(Mint(("repository", repository)), "echo");

        Assert.That(detail, Does.Contain("repository=(none)"), "a claim that is not a string is no claim at all");
    }

    [Test]
    public async Task MissingRequiredClaim_IsPermissionDenied()
    {
        var detail = await AssertDeniedAsync(Mint(), "prod");

        Assert.That(detail, Does.Contain("environment=(none)"));
        Assert.That((await OpenSessionAsync(Mint(("environment", "production")), "prod")).Targets.Single(), Is.EqualTo("prod"), "control: with the claim it is granted");
    }

    [Test]
    public async Task NotClaimsExcludingTheRef_IsPermissionDenied()
    {
        var detail = await AssertDeniedAsync(Mint(("ref", "refs/heads/wip/try-this")), "nowip");

        Assert.That(detail, Does.Contain("ref=refs/heads/wip/try-this"));
        Assert.That(detail, Does.Not.Contain("refs/heads/wip/**"), "the reason never quotes the policy");
        Assert.That((await OpenSessionAsync(Mint(), "nowip")).Targets.Single(), Is.EqualTo("nowip"), "control: another ref is granted");
    }

    private string Mint(params (string Claim, object Value)[] claims) =>
        Issuer.MintToken("ghaport", claims.ToDictionary(c => c.Claim, c => c.Value));

    private static void AddRule(Dictionary<string, string?> configuration, int index, string name, string target, params (string Key, string Value)[] settings)
    {
        configuration[$"Broker:Rules:{index}:Name"] = name;
        configuration[$"Broker:Rules:{index}:Targets:0"] = target;
        foreach (var (key, value) in settings)
        {
            configuration[$"Broker:Rules:{index}:{key}"] = value;
        }
    }

    private async Task<Lease> OpenSessionAsync(string token, params string[] targets)
    {
        using var sessionKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new OpenSessionRequest
        {
            IdToken = token,
            Targets = { targets },
            SessionPublicKey = ByteString.CopyFrom(sessionKey.ExportSubjectPublicKeyInfo()),
        };
        return (await Client.OpenSessionAsync(request, deadline: DateTime.UtcNow + TaskTimeouts.Default).ResponseAsync.DefaultTimeout()).Lease;
    }

    /// <summary>Asserts PermissionDenied naming the target and the identity, with the token in neither reply nor log; returns the detail.</summary>
    private async Task<string> AssertDeniedAsync(string token, string target)
    {
        RpcException? error = null;
        try
        {
            await OpenSessionAsync(token, target);
        }
        catch (RpcException ex)
        {
            error = ex;
        }

        Assert.That(error, Is.Not.Null, "the session was granted");
        Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.PermissionDenied), error.Status.Detail);
        var detail = error.Status.Detail;
        Assert.That(detail, Does.Contain($"target '{target}' is not permitted for repository="));
        Assert.That(detail, Does.Contain(" ref=").And.Contain(" event_name="), "the identity the broker saw");
        Assert.That(detail, Does.Not.Contain(token));
        var logged = Broker.Logs.Entries.Select(e => e.ToString()).ToList();
        Assert.That(logged, Has.None.Contains(token), "the broker must not log the id-token");
        Assert.That(logged, Has.Some.Contains(detail), "the refusal is logged with its reason");
        return detail;
    }
}
