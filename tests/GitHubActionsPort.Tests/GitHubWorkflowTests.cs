using System.Net;
using System.Text;
using GitHubActionsPort.Agent.Cli;
using GitHubActionsPort.Agent.Forwarding;
using GitHubActionsPort.Agent.GitHub;

namespace GitHubActionsPort.Tests;

/// <summary>
/// What the agent hands GitHub Actions: masks and annotations in the runner's command syntax, step outputs and the
/// step summary in the runner's files, and nothing at all outside Actions.
/// </summary>
public sealed class GitHubWorkflowTests
{
    private static readonly DateTimeOffset OpenedAt = new(2025, 3, 14, 9, 26, 53, TimeSpan.Zero);

    private static readonly IReadOnlyList<(string Target, IPEndPoint Address)> Forwards =
    [
        ("prod-db", new IPEndPoint(IPAddress.Loopback, 5432)),
        ("cache", new IPEndPoint(IPAddress.IPv6Loopback, 16379)),
    ];

    private string _directory = null!;
    private string _outputFile = null!;
    private string _summaryFile = null!;
    private StringWriter _commands = null!;

    [SetUp]
    public void CreateFiles()
    {
        _directory = Directory.CreateTempSubdirectory("ghaport-workflow-").FullName;
        _outputFile = Path.Combine(_directory, "output");
        _summaryFile = Path.Combine(_directory, "summary");
        _commands = new StringWriter();
    }

    [TearDown]
    public void DeleteFiles()
    {
        _commands.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [Test]
    public void IsActions_OnlyWhenTheRunnerSaysTrue()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Workflow(actions: true).IsActions, Is.True);
            Assert.That(Workflow(actions: false).IsActions, Is.False);
            Assert.That(new GitHubWorkflow(_ => "TRUE", _commands).IsActions, Is.False);
        });
    }

    [Test]
    public void Mask_InActions_WritesAddMaskAndEscapesData()
    {
        Workflow(actions: true).Mask("a%b\r\nc:d,e");

        Assert.That(_commands.ToString(), Is.EqualTo("::add-mask::a%25b%0D%0Ac:d,e\n"));
    }

    [Test]
    public void Mask_EmptySecret_WritesNothing()
    {
        Workflow(actions: true).Mask("");

        Assert.That(_commands.ToString(), Is.Empty);
    }

    [Test]
    public void Mask_OutsideActions_WritesNothing()
    {
        Workflow(actions: false).Mask("secret");

        Assert.That(_commands.ToString(), Is.Empty);
    }

    [Test]
    public void Mask_IsFlushedAtOnce()
    {
        using var buffer = new MemoryStream();
        using var writer = new StreamWriter(buffer, new UTF8Encoding(false), bufferSize: 4096);
        new GitHubWorkflow(Environment(actions: true), writer).Mask("secret");

        Assert.That(Encoding.UTF8.GetString(buffer.ToArray()), Is.EqualTo("::add-mask::secret\n"));
    }

    [Test]
    public void FormatError_InActions_IsAnErrorAnnotation()
    {
        var line = Workflow(actions: true).FormatError("the broker rejected the id-token: 100% wrong\naudience");

        Assert.That(line, Is.EqualTo("::error title=ghaport::the broker rejected the id-token: 100%25 wrong%0Aaudience"));
    }

    [Test]
    public void FormatError_OutsideActions_IsPlainText()
    {
        var line = Workflow(actions: false).FormatError("target 'prod-db' is not permitted");

        Assert.That(line, Is.EqualTo("ghaport: target 'prod-db' is not permitted"));
    }

    [Test]
    public void WriteOutputs_InActions_AppendsEachOutputAsOneLine()
    {
        File.WriteAllText(_outputFile, "earlier=step\n");

        Workflow(actions: true).WriteOutputs(Forwards, new DateTimeOffset(2025, 3, 14, 11, 26, 53, TimeSpan.FromHours(2)), "lease-42");

        Assert.That(File.ReadAllText(_outputFile), Is.EqualTo(
            "earlier=step\n" +
            "port=5432\n" +
            "address=127.0.0.1:5432\n" +
            "port-prod-db=5432\n" +
            "address-prod-db=127.0.0.1:5432\n" +
            "port-cache=16379\n" +
            "address-cache=[::1]:16379\n" +
            "expires-at=2025-03-14T09:26:53Z\n" +
            "lease-id=lease-42\n"));
    }

    [Test]
    public void WriteOutputs_NewFile_HasNoByteOrderMark()
    {
        Workflow(actions: true).WriteOutputs(Forwards, OpenedAt, "lease-42");

        Assert.That(File.ReadAllBytes(_outputFile).Take(4), Is.EqualTo("port"u8.ToArray()));
    }

    [Test]
    public void WriteOutputs_TwoForwardsToOneTarget_NamesTheTargetOnce()
    {
        (string, IPEndPoint)[] forwards = [("db", new IPEndPoint(IPAddress.Loopback, 5432)), ("db", new IPEndPoint(IPAddress.Loopback, 5433))];

        Workflow(actions: true).WriteOutputs(forwards, OpenedAt, "lease-42");

        var lines = File.ReadAllLines(_outputFile);
        Assert.That(lines, Has.One.EqualTo("port-db=5432"));
        Assert.That(lines, Has.None.Contains("5433"));
    }

    [Test]
    public void WriteOutputs_OutsideActions_WritesNothing()
    {
        var environment = Environment(actions: false);

        new GitHubWorkflow(environment, _commands).WriteOutputs(Forwards, OpenedAt, "lease-42");

        Assert.That(File.Exists(_outputFile), Is.False);
        Assert.That(_commands.ToString(), Is.Empty);
    }

    [Test]
    public void WriteOutputs_VariableUnset_WritesNothing()
    {
        var workflow = new GitHubWorkflow(name => name == "GITHUB_ACTIONS" ? "true" : null, _commands);

        Assert.DoesNotThrow(() => workflow.WriteOutputs(Forwards, OpenedAt, "lease-42"));
        Assert.That(Directory.GetFiles(_directory), Is.Empty);
    }

    [Test]
    public void WriteOutputs_UnwritableFile_FailsNamingTheVariable()
    {
        var missing = Path.Combine(_directory, "no-such-folder", "output");
        var workflow = new GitHubWorkflow(name => name switch { "GITHUB_ACTIONS" => "true", "GITHUB_OUTPUT" => missing, _ => null }, _commands);

        var ex = Assert.Throws<AgentException>(() => workflow.WriteOutputs(Forwards, OpenedAt, "lease-42"));

        Assert.That(ex!.Message, Does.Contain("GITHUB_OUTPUT").And.Contain(missing));
        Assert.That(ex.ExitCode, Is.EqualTo(ExitCodes.Failure));
    }

    [Test]
    public void AppendSummary_InActions_AppendsHeadingTimesAndTable()
    {
        File.WriteAllText(_summaryFile, "Earlier step.\n\n");
        ForwardTotals[] totals =
        [
            new("cache", 2, 0, 0, 1, 900, 1_536, TimeSpan.FromMilliseconds(850)),
            new("prod-db", 12, 0, 1, 0, 5L * 1024 * 1024 + 512 * 1024, 3L * 1024 * 1024 * 1024, TimeSpan.FromSeconds(245)),
        ];

        Workflow(actions: true).AppendSummary("lease-42", Forwards, totals, OpenedAt, OpenedAt + TimeSpan.FromMinutes(15) + TimeSpan.FromSeconds(7), "stopped by ghaport down");

        Assert.That(File.ReadAllText(_summaryFile), Is.EqualTo(
            "Earlier step.\n\n" +
            "### ghaport: lease lease-42\n\n" +
            "Opened 2025-03-14 09:26:53 UTC, closed 2025-03-14 09:42:00 UTC (15m 07s); ended: stopped by ghaport down\n\n" +
            "| Forward | Target | Connections | Failed | Refused | Sent | Received | Connection time |\n" +
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n" +
            "| 127.0.0.1:5432 | prod-db | 12 | 1 | 0 | 5.5 MiB | 3.0 GiB | 4m 05s |\n" +
            "| [::1]:16379 | cache | 2 | 0 | 1 | 900 B | 1.5 KiB | 850 ms |\n" +
            "\n"));
    }

    [Test]
    public void AppendSummary_ForwardWithoutTraffic_ShowsZeros()
    {
        Workflow(actions: true).AppendSummary("lease-42", Forwards.Take(1).ToList(), [], OpenedAt, OpenedAt + TimeSpan.FromSeconds(3), "lease expired");

        Assert.That(File.ReadAllLines(_summaryFile), Has.One.EqualTo("| 127.0.0.1:5432 | prod-db | 0 | 0 | 0 | 0 B | 0 B | 0 ms |"));
    }

    [Test]
    public void AppendSummary_PipesAndLineBreaks_CannotBreakTheTable()
    {
        ForwardTotals[] totals = [new("a|b", 1, 0, 0, 0, 1, 1, TimeSpan.FromSeconds(2))];

        Workflow(actions: true).AppendSummary("lease\n42", [("a|b", new IPEndPoint(IPAddress.Loopback, 1))], totals, OpenedAt, OpenedAt, "the broker ended the lease:\r\npolicy changed");

        var lines = File.ReadAllLines(_summaryFile);
        Assert.That(lines[0], Is.EqualTo("### ghaport: lease lease 42"));
        Assert.That(lines, Has.One.EndsWith("ended: the broker ended the lease: policy changed"));
        Assert.That(lines, Has.One.EqualTo(@"| 127.0.0.1:1 | a\|b | 1 | 0 | 0 | 1 B | 1 B | 2.0 s |"));
    }

    [Test]
    public void AppendSummary_OutsideActions_WritesNothing()
    {
        Workflow(actions: false).AppendSummary("lease-42", Forwards, [], OpenedAt, OpenedAt, "stopped");

        Assert.That(Directory.GetFiles(_directory), Is.Empty);
        Assert.That(_commands.ToString(), Is.Empty);
    }

    [TestCase(0L, "0 B")]
    [TestCase(1023L, "1023 B")]
    [TestCase(1024L, "1.0 KiB")]
    [TestCase(1_048_575L, "1.0 MiB")]
    [TestCase(1_048_576L, "1.0 MiB")]
    [TestCase(1_610_612_736L, "1.5 GiB")]
    public void Bytes_UseBinaryUnits(long bytes, string expected) =>
        Assert.That(GitHubWorkflow.Bytes(bytes), Is.EqualTo(expected));

    [TestCase(0.0, "0 ms")]
    [TestCase(0.25, "250 ms")]
    [TestCase(12.34, "12.3 s")]
    [TestCase(59.97, "1m 00s")]
    [TestCase(65.0, "1m 05s")]
    [TestCase(3_599.7, "1h 00m")]
    [TestCase(3_600.0, "1h 00m")]
    [TestCase(93_780.0, "26h 03m")]
    public void Duration_IsReadable(double seconds, string expected) =>
        Assert.That(GitHubWorkflow.Duration(TimeSpan.FromSeconds(seconds)), Is.EqualTo(expected));

    private GitHubWorkflow Workflow(bool actions) => new(Environment(actions), _commands);

    /// <summary>The runner's variables; outside Actions the files are still named, to show they are left alone.</summary>
    private Func<string, string?> Environment(bool actions) => name => name switch
    {
        "GITHUB_ACTIONS" => actions ? "true" : null,
        "GITHUB_OUTPUT" => _outputFile,
        "GITHUB_STEP_SUMMARY" => _summaryFile,
        _ => null,
    };
}
