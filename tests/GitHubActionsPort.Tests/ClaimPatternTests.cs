using GitHubActionsPort.Broker.Policy;

namespace GitHubActionsPort.Tests;

/// <summary>Claim globs: a rule's patterns admit exactly the claim values their author meant, nothing next to them.</summary>
public sealed class ClaimPatternTests
{
    [TestCase("acme/app", "acme/app", ExpectedResult = true, TestName = "Literal_MatchesItself")]
    [TestCase("acme/app", "acme/app2", ExpectedResult = false, TestName = "Literal_DoesNotMatchALongerValue")]
    [TestCase("acme/app", "xacme/app", ExpectedResult = false, TestName = "Literal_DoesNotMatchAValueEndingWithIt")]
    [TestCase("acme/app", "Acme/App", ExpectedResult = false, TestName = "Literal_IsCaseSensitive")]
    [TestCase("refs/heads/main", "refs/heads/main\n", ExpectedResult = false, TestName = "Literal_DoesNotMatchTheValueWithATrailingNewline")]
    [TestCase("acme/app*", "acme/app", ExpectedResult = true, TestName = "Star_MatchesNothing")]
    [TestCase("acme/app*", "acme/app-x", ExpectedResult = true, TestName = "Star_MatchesTheRestOfASegment")]
    [TestCase("acme/app*", "acme/app-evil/x", ExpectedResult = false, TestName = "Star_DoesNotCrossSlash")]
    [TestCase("acme/*", "acme/app", ExpectedResult = true, TestName = "Star_MatchesAWholeSegment")]
    [TestCase("acme/*", "acme/app/x", ExpectedResult = false, TestName = "Star_DoesNotMatchTwoSegments")]
    [TestCase("acme/*", "other/app", ExpectedResult = false, TestName = "Star_LeavesTheLiteralPartsLiteral")]
    [TestCase("repo:acme/*:ref:refs/heads/main", "repo:acme/app:ref:refs/heads/main", ExpectedResult = true, TestName = "StarInSubject_MatchesOneRepository")]
    [TestCase("repo:acme/*:ref:refs/heads/main", "repo:acme/app:evil:ref:refs/heads/main", ExpectedResult = false, TestName = "Star_DoesNotCrossColon")]
    [TestCase("repo:acme/app:*", "repo:acme/app:environment:prod", ExpectedResult = false, TestName = "TrailingStar_DoesNotCrossColon")]
    [TestCase("repo:acme/app:**", "repo:acme/app:environment:prod", ExpectedResult = true, TestName = "DoubleStar_CrossesColon")]
    [TestCase("acme/**", "acme/app/x/y", ExpectedResult = true, TestName = "DoubleStar_CrossesSlashes")]
    [TestCase("acme/**", "other/app/x", ExpectedResult = false, TestName = "DoubleStar_KeepsTheLiteralPrefix")]
    [TestCase("refs/heads/release-?", "refs/heads/release-1", ExpectedResult = true, TestName = "QuestionMark_MatchesOneCharacter")]
    [TestCase("refs/heads/release-?", "refs/heads/release-10", ExpectedResult = false, TestName = "QuestionMark_DoesNotMatchTwoCharacters")]
    [TestCase("refs/heads/release-?", "refs/heads/release-", ExpectedResult = false, TestName = "QuestionMark_DoesNotMatchNothing")]
    [TestCase("refs/heads/release-?", "refs/heads/release-/", ExpectedResult = false, TestName = "QuestionMark_DoesNotMatchSlash")]
    [TestCase("a.c", "abc", ExpectedResult = false, TestName = "Dot_IsLiteral")]
    [TestCase("a.c", "a.c", ExpectedResult = true, TestName = "Dot_MatchesADot")]
    [TestCase("refs/heads/(main|dev)", "refs/heads/main", ExpectedResult = false, TestName = "RegexAlternation_IsLiteral")]
    [TestCase("refs/heads/(main|dev)", "refs/heads/(main|dev)", ExpectedResult = true, TestName = "RegexAlternation_MatchesItsOwnText")]
    [TestCase("a+b", "aab", ExpectedResult = false, TestName = "Plus_IsLiteral")]
    [TestCase("[abc]", "a", ExpectedResult = false, TestName = "CharacterClass_IsLiteral")]
    [TestCase("^acme$", "acme", ExpectedResult = false, TestName = "Anchors_AreLiteral")]
    public bool IsMatch(string pattern, string value) => Parse(pattern).IsMatch(value);

    [TestCase("")]
    [TestCase("   ")]
    [TestCase("***")]
    [TestCase("acme/***/x")]
    public void MalformedPattern_IsRefused_WithAReason(string text)
    {
        var parsed = ClaimPattern.TryParse(text, out var pattern, out var error);

        Assert.That(parsed, Is.False);
        Assert.That(pattern, Is.Null);
        Assert.That(error, Is.Not.Null.And.Not.Empty);
    }

    [Test]
    public void TripleStar_ReasonSuggestsTheTwoGlobs()
    {
        var parsed = ClaimPattern.TryParse("acme/***", out _, out var error);

        Assert.That(parsed, Is.False);
        Assert.That(error, Does.Contain("'***'").And.Contain("'**'"));
    }

    [Test]
    public void Pattern_KeepsItsText()
    {
        Assert.That(Parse("acme/app*").Text, Is.EqualTo("acme/app*"));
        Assert.That(Parse("acme/app*").ToString(), Is.EqualTo("acme/app*"));
    }

    [TestCase("pull_request_target", "pull_request_target", ExpectedResult = true, TestName = "IsLiterally_SameTextWithoutWildcard")]
    [TestCase("pull_*", "pull_request", ExpectedResult = false, TestName = "IsLiterally_StarNeverCounts")]
    [TestCase("pull_request_targe?", "pull_request_target", ExpectedResult = false, TestName = "IsLiterally_QuestionMarkNeverCounts")]
    [TestCase("**", "push", ExpectedResult = false, TestName = "IsLiterally_DoubleStarNeverCounts")]
    [TestCase("Pull_Request", "pull_request", ExpectedResult = false, TestName = "IsLiterally_IsCaseSensitive")]
    public bool IsLiterally(string pattern, string value) => Parse(pattern).IsLiterally(value);

    [TestCase("repo:acme/app:ref:refs/heads/main", ExpectedResult = false)]
    [TestCase("repo:acme/*:ref:refs/heads/main", ExpectedResult = true)]
    [TestCase("repo:acme/app:environment:prod-?", ExpectedResult = true)]
    [TestCase("repo:acme/app:**", ExpectedResult = true)]
    public bool HasWildcard(string pattern) => Parse(pattern).HasWildcard;

    private static ClaimPattern Parse(string text)
    {
        Assert.That(ClaimPattern.TryParse(text, out var pattern, out var error), Is.True, error);
        return pattern!;
    }
}
