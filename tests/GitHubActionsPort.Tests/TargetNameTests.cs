using GitHubActionsPort.Agent.Cli;
using GitHubActionsPort.Protocol;

namespace GitHubActionsPort.Tests;

/// <summary>The target-name rule both ends check: the whole string, with no line break slipping past the end anchor.</summary>
public sealed class TargetNameTests
{
    [TestCase("echo", ExpectedResult = true)]
    [TestCase("prod-db.eu_1", ExpectedResult = true)]
    [TestCase("echo\n", ExpectedResult = false, TestName = "TargetName_WithFinalNewline_IsInvalid")]
    [TestCase("echo\r\n", ExpectedResult = false, TestName = "TargetName_WithFinalCrLf_IsInvalid")]
    [TestCase("\necho", ExpectedResult = false, TestName = "TargetName_WithLeadingNewline_IsInvalid")]
    [TestCase("echo\ndb", ExpectedResult = false, TestName = "TargetName_WithInnerNewline_IsInvalid")]
    [TestCase("Echo", ExpectedResult = false)]
    [TestCase("", ExpectedResult = false)]
    public bool IsValid(string name) => TargetName.IsValid(name);

    [Test]
    public void ForwardToATargetWithFinalNewline_IsRefused_NamingTheFlag()
    {
        var error = Assert.Throws<ArgumentException>(() => ForwardSpec.Parse("5432:echo\n"));

        Assert.That(error!.Message, Does.StartWith("--forward"));
    }
}
