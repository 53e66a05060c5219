using GitHubActionsPort.Broker.Auth;

namespace GitHubActionsPort.Tests;

/// <summary>What a refused token's claims look like in an audit line: bounded, one line, reading as they are.</summary>
public sealed class AuditTextTests
{
    [TestCase("repo:acme/app:ref:refs/heads/main", "\"repo:acme/app:ref:refs/heads/main\"", TestName = "PlainText_IsQuotedAsIs")]
    [TestCase("a\r\nb\u001b[31mc\u0000d", "\"ab[31mcd\"", TestName = "ControlCharacters_AreDropped")]
    [TestCase("admin\u202Enimda\u200B\u2066x", "\"adminnimdax\"", TestName = "BidiAndZeroWidthCharacters_AreDropped")]
    [TestCase("a\u2028b\u2029c", "\"abc\"", TestName = "LineAndParagraphSeparators_AreDropped")]
    [TestCase("say \"hi\" \\o/", "\"say \\\"hi\\\" \\\\o/\"", TestName = "QuotesAndBackslashes_AreEscaped")]
    [TestCase("", "\"\"", TestName = "EmptyText_IsAnEmptyQuote")]
    public void Quote(string value, string expected) => Assert.That(AuditText.Quote(value), Is.EqualTo(expected));

    [Test]
    public void LongText_IsCutAtTheLimit_WithAnEllipsis()
    {
        var quoted = AuditText.Quote(new string('x', 10_000));

        Assert.That(quoted, Is.EqualTo("\"" + new string('x', AuditText.MaxLength) + "…\""));
    }

    [Test]
    public void Cut_NeverSplitsASurrogatePair()
    {
        // 99 characters, then an emoji (two UTF-16 units) that would end one past the limit.
        var quoted = AuditText.Quote(new string('x', AuditText.MaxLength - 1) + "\U0001F600" + "tail");

        Assert.That(quoted, Is.EqualTo("\"" + new string('x', AuditText.MaxLength - 1) + "…\""));
    }

    [Test]
    public void LoneSurrogate_ReadsAsReplacementCharacter()
    {
        Assert.That(AuditText.Quote("a\uD800b"), Is.EqualTo("\"a\uFFFDb\""));
    }
}
