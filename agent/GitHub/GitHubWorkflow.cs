using System.Globalization;
using System.Net;
using System.Text;
using GitHubActionsPort.Agent.Cli;
using GitHubActionsPort.Agent.Forwarding;

namespace GitHubActionsPort.Agent.GitHub;

/// <summary>
/// What the agent tells GitHub Actions, through its workflow commands (<c>::add-mask::</c>, <c>::error</c>) and
/// its per-step files (<c>GITHUB_OUTPUT</c>, <c>GITHUB_STEP_SUMMARY</c>). Outside Actions it writes nothing and
/// errors read as plain text.
/// </summary>
internal sealed class GitHubWorkflow(Func<string, string?> environment, TextWriter output)
{
    private const string OutputVariable = "GITHUB_OUTPUT";
    private const string SummaryVariable = "GITHUB_STEP_SUMMARY";

    // The runner reads its files as UTF-8; a BOM would become part of the first name it reads.
    private static readonly UTF8Encoding Utf8NoBom = new(encoderShouldEmitUTF8Identifier: false);

    private readonly Func<string, string?> _environment = environment ?? throw new ArgumentNullException(nameof(environment));
    private readonly TextWriter _output = output ?? throw new ArgumentNullException(nameof(output));

    /// <summary>True inside a GitHub Actions job (the runner sets <c>GITHUB_ACTIONS=true</c>).</summary>
    public bool IsActions => _environment("GITHUB_ACTIONS") == "true";

    /// <summary>
    /// Asks the runner to replace <paramref name="secret"/> with <c>***</c> in the job's log from now on. Called
    /// before anything could print the secret, and flushed at once: a mask that is still buffered protects nothing.
    /// </summary>
    public void Mask(string secret)
    {
        ArgumentNullException.ThrowIfNull(secret);
        if (!IsActions || secret.Length == 0)
        {
            return;
        }

        _output.Write("::add-mask::" + EscapeData(secret) + "\n");
        _output.Flush();
    }

    /// <summary>
    /// One line for a failure: an <c>::error</c> annotation in Actions (shown on the run's summary page), else
    /// <c>ghaport: message</c>.
    /// </summary>
    public string FormatError(string message)
    {
        ArgumentNullException.ThrowIfNull(message);
        return IsActions ? "::error title=ghaport::" + EscapeData(message) : "ghaport: " + message;
    }

    /// <summary>
    /// Appends the step outputs to <c>GITHUB_OUTPUT</c>: <c>port</c> and <c>address</c> of the first forward,
    /// <c>port-TARGET</c> and <c>address-TARGET</c> of each target's first forward, <c>expires-at</c> and
    /// <c>lease-id</c>. A file that cannot be written is an <see cref="AgentException"/> naming the variable.
    /// </summary>
    public void WriteOutputs(IReadOnlyList<(string Target, IPEndPoint Address)> forwards, DateTimeOffset expiresAt, string leaseId)
    {
        ArgumentNullException.ThrowIfNull(forwards);
        ArgumentNullException.ThrowIfNull(leaseId);
        if (StepFile(OutputVariable) is not { } path)
        {
            return;
        }

        var text = new StringBuilder();
        void Line(string name, string value) => text.Append(name).Append('=').Append(value).Append('\n');

        if (forwards.Count > 0)
        {
            Line("port", Port(forwards[0].Address));
            Line("address", forwards[0].Address.ToString());
        }

        // Two forwards to one target would write one name twice, and the runner keeps the last; the first one
        // wins here, as it does for "port".
        var named = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (target, address) in forwards)
        {
            if (named.Add(target))
            {
                Line("port-" + target, Port(address));
                Line("address-" + target, address.ToString());
            }
        }

        Line("expires-at", expiresAt.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture));
        Line("lease-id", leaseId);
        Append(OutputVariable, path, text.ToString());
    }

    /// <summary>
    /// Appends a Markdown section to <c>GITHUB_STEP_SUMMARY</c>: the lease, when it was open and why it ended,
    /// and a table of what each target's forwards carried.
    /// </summary>
    public void AppendSummary(
        string leaseId,
        IReadOnlyList<(string Target, IPEndPoint Address)> forwards,
        IReadOnlyList<ForwardTotals> totals,
        DateTimeOffset openedAt,
        DateTimeOffset closedAt,
        string endReason)
    {
        ArgumentNullException.ThrowIfNull(leaseId);
        ArgumentNullException.ThrowIfNull(forwards);
        ArgumentNullException.ThrowIfNull(totals);
        ArgumentNullException.ThrowIfNull(endReason);
        if (StepFile(SummaryVariable) is not { } path)
        {
            return;
        }

        var text = new StringBuilder();
        text.Append("### ghaport: lease ").Append(Inline(leaseId)).Append("\n\n");
        text.Append("Opened ").Append(Time(openedAt))
            .Append(", closed ").Append(Time(closedAt))
            .Append(" (").Append(Duration(closedAt - openedAt)).Append("); ended: ")
            .Append(Inline(endReason)).Append("\n\n");
        text.Append("| Forward | Target | Connections | Failed | Refused | Sent | Received | Connection time |\n");
        text.Append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");

        // The counters are per target, so a target with two forwards is one row naming both addresses.
        var rows = forwards
            .GroupBy(f => f.Target, StringComparer.Ordinal)
            .Select(g => (Target: g.Key, Addresses: string.Join(", ", g.Select(f => f.Address.ToString()))))
            .ToList();
        rows.AddRange(totals
            .Where(t => !forwards.Any(f => f.Target == t.Target))
            .Select(t => (t.Target, Addresses: "")));

        foreach (var (target, addresses) in rows)
        {
            // Totals may come per forward ('ghaport down' reads them so): a target's row adds up its forwards'.
            var t = ForwardTotals.Sum(target, totals.Where(x => x.Target == target));
            text.Append("| ").Append(Cell(addresses))
                .Append(" | ").Append(Cell(target))
                .Append(" | ").Append(t.Connections.ToString(CultureInfo.InvariantCulture))
                .Append(" | ").Append(t.Failed.ToString(CultureInfo.InvariantCulture))
                .Append(" | ").Append(t.Refused.ToString(CultureInfo.InvariantCulture))
                .Append(" | ").Append(Bytes(t.BytesSent))
                .Append(" | ").Append(Bytes(t.BytesReceived))
                .Append(" | ").Append(Duration(t.TotalDuration))
                .Append(" |\n");
        }

        text.Append('\n');
        Append(SummaryVariable, path, text.ToString());
    }

    /// <summary>
    /// Appends one warning paragraph to <c>GITHUB_STEP_SUMMARY</c> at once, not at the end of the step: a risk the
    /// job took on (a forward other machines can reach) belongs on the run's page even if the agent never ends
    /// cleanly.
    /// </summary>
    public void AppendSummaryWarning(string warning)
    {
        ArgumentNullException.ThrowIfNull(warning);
        if (StepFile(SummaryVariable) is not { } path)
        {
            return;
        }

        Append(SummaryVariable, path, "> [!WARNING]\n> ghaport: " + Inline(warning) + "\n\n");
    }

    /// <summary>Workflow command data: the runner unescapes exactly these three, so nothing else may be touched.</summary>
    internal static string EscapeData(string value) =>
        value.Replace("%", "%25", StringComparison.Ordinal)
            .Replace("\r", "%0D", StringComparison.Ordinal)
            .Replace("\n", "%0A", StringComparison.Ordinal);

    /// <summary>Bytes in the largest binary unit that keeps the number at least 1: 512 B, 1.5 KiB, 3.0 GiB.</summary>
    internal static string Bytes(long bytes)
    {
        string[] units = ["KiB", "MiB", "GiB", "TiB"];
        if (bytes < 1024)
        {
            return bytes.ToString(CultureInfo.InvariantCulture) + " B";
        }

        double value = bytes;
        var unit = -1;
        // Compare the rounded value, so 1,048,575 bytes reads 1.0 MiB and not 1024.0 KiB.
        while (Math.Round(value, 1) >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return value.ToString("0.0", CultureInfo.InvariantCulture) + " " + units[unit];
    }

    /// <summary>A duration to the precision a reader wants: 850 ms, 12.3 s, 4m 05s, 2h 07m.</summary>
    internal static string Duration(TimeSpan duration)
    {
        if (duration < TimeSpan.Zero)
        {
            duration = TimeSpan.Zero;
        }

        if (duration.TotalSeconds < 1)
        {
            return ((long)duration.TotalMilliseconds).ToString(CultureInfo.InvariantCulture) + " ms";
        }

        // Thresholds on the rounded value, so 59.97 s reads 1m 00s and not 60.0 s.
        if (duration.TotalSeconds < 59.95)
        {
            return duration.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + " s";
        }

        var seconds = (long)Math.Round(duration.TotalSeconds);
        if (seconds < 3600)
        {
            return string.Create(CultureInfo.InvariantCulture, $"{seconds / 60}m {seconds % 60:00}s");
        }

        var minutes = (long)Math.Round(duration.TotalMinutes);
        return string.Create(CultureInfo.InvariantCulture, $"{minutes / 60}h {minutes % 60:00}m");
    }

    private static string Time(DateTimeOffset time) =>
        time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture);

    private static string Port(IPEndPoint address) => address.Port.ToString(CultureInfo.InvariantCulture);

    /// <summary>Text on one Markdown line: a line break would end the paragraph or the table row.</summary>
    private static string Inline(string value) =>
        value.Replace("\r\n", " ", StringComparison.Ordinal).Replace('\r', ' ').Replace('\n', ' ');

    /// <summary>A table cell: a bare pipe would start the next cell.</summary>
    private static string Cell(string value) => Inline(value).Replace("|", "\\|", StringComparison.Ordinal);

    /// <summary>The file a step variable names, inside Actions only.</summary>
    private string? StepFile(string variable) =>
        IsActions && _environment(variable) is { Length: > 0 } path ? path : null;

    private static void Append(string variable, string path, string text)
    {
        try
        {
            File.AppendAllText(path, text, Utf8NoBom);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            throw new AgentException(ExitCodes.Failure, $"cannot append to {variable} ('{path}'): {ex.Message}", ex);
        }
    }
}
