using System.Text.RegularExpressions;
using GitHubActionsPort.Broker.DevIssuer;
using GitHubActionsPort.Harness.Output;

namespace GitHubActionsPort.Harness.Demo;

/// <summary>
/// <c>ghaport-harness demo</c>: everything a CI job and its private network would have, on this machine. A
/// development OIDC issuer plays GitHub Actions' token service, a throwaway PostgreSQL (or an echo server) plays
/// the private target, the broker runs in-process, and the agent runs as a real <c>ghaport</c> child process
/// with a GitHub Actions environment, so its real token-request path runs. Single use.
/// </summary>
internal sealed partial class DemoCommand(DemoOptions options, TextWriter output, TextWriter error) : IHarnessCommand
{
    private const string DatabaseTarget = "demo-db";
    private const string EchoTarget = "demo-echo";
    private const int IntegrityBytes = 16 * 1024 * 1024;
    private const long ThroughputBytes = 256L * 1024 * 1024;

    private readonly Narrator _narrator = new(output, error);
    private readonly List<LogTail> _logs = [];

    public async Task<bool> RunAsync(CancellationToken stopping)
    {
        _narrator.Title("GitHub Actions Port demo: a CI job reaches a private service with nothing but its OIDC identity.");
        var teardown = new Teardown(_narrator, narrate: true);
        Exception? failure = null;
        var failedStep = string.Empty;
        var lease = new LeaseOutcome(null, Closed: false);
        try
        {
            lease = await RunStepsAsync(teardown, stopping);
        }
        catch (Exception ex) when (!stopping.IsCancellationRequested)
        {
            // What the agent and broker said last is usually the explanation.
            ShowNewLogs();
            failure = ex;
            failedStep = _narrator.CurrentStep;
        }
        finally
        {
            await teardown.DisposeAsync();
        }

        if (failure is not null)
        {
            _narrator.Fail("demo", failedStep, failure);
            return false;
        }

        if (teardown.Failed)
        {
            return false;
        }

        _narrator.Blank();
        _narrator.Line($"Demo complete in {_narrator.Elapsed.TotalSeconds:0.0} s. The agent fetched an OIDC id-token the way a GitHub Actions job does,");
        _narrator.Line($"the broker checked it against its rule for acme/app and granted lease {lease.Id ?? "(see above)"}, each local connection");
        _narrator.Line("crossed to the broker on a raw-lane connection of its own (a warm one, authenticated before it was needed; the");
        _narrator.Line("gRPC lane is the fallback), and the broker alone knew the target's address; on SIGTERM the agent closed every");
        _narrator.Line(lease.Closed
            ? $"tunnel and lease {lease.Id} at the broker, and exited 0."
            : $"tunnel and exited 0; the broker saw no close of lease {lease.Id ?? "(see above)"}, which lapses at its expiry.");
        return true;
    }

    /// <summary>The demo proper; returns the lease the broker granted and whether the agent closed it.</summary>
    private async Task<LeaseOutcome> RunStepsAsync(Teardown teardown, CancellationToken stopping)
    {
        _narrator.Step("issuer", "starting the development OIDC issuer (plays GitHub Actions' token service)");
        var issuer = teardown.Add("issuer", await DevIssuer.StartAsync(cancellationToken: stopping).DefaultTimeout());
        _narrator.Detail($"issuer {issuer.Issuer}, token requests at {issuer.RequestUrl}");
        _narrator.Detail($"its tokens say: repository {issuer.Claims["repository"]}, ref {issuer.Claims["ref"]}, workflow {issuer.Claims["workflow"]}");

        var postgres = await StartPostgresAsync(teardown);
        _narrator.Step("target", "starting an echo server (returns every byte it receives)");
        var echo = teardown.Add("echo server", TcpTestServer.Echo());
        _narrator.Detail($"echo server on {echo.Address}");

        var targets = new Dictionary<string, string>(StringComparer.Ordinal);
        if (postgres is not null)
        {
            targets[DatabaseTarget] = postgres.Address;
        }

        targets[EchoTarget] = echo.Address;
        _narrator.Step("broker", "starting the broker in-process (Kestrel, gRPC over h2c on loopback)");
        var broker = teardown.Add("broker", await BrokerUnderTest.StartAsync(BrokerUnderTest.DefaultConfiguration(issuer.Issuer, targets)));
        _logs.Add(LogTail.ForBroker(broker));
        _narrator.Detail($"broker {broker.Address}; trusts {issuer.Issuer} for audience ghaport");
        _narrator.Detail($"targets: {string.Join(", ", targets.Select(t => $"{t.Key} = {t.Value}"))} (the agent only ever names them)");
        _narrator.Detail("rule: tokens with repository acme/app may open every target");

        var agent = await StartAgentAsync(teardown, issuer, broker, [.. targets.Keys]);
        stopping.ThrowIfCancellationRequested();

        if (postgres is not null)
        {
            await PostgresProof.RunAsync(agent.Forwards[DatabaseTarget], postgres, _narrator, stopping);
        }
        else
        {
            await EchoProof.VerifyIntegrityAsync(agent.Forwards[EchoTarget], IntegrityBytes, _narrator, stopping);
        }

        ShowNewLogs();
        await EchoProof.MeasureThroughputAsync(agent.Forwards[EchoTarget], ThroughputBytes, _narrator, stopping);
        ShowNewLogs();

        _narrator.Step("agent", "sending SIGTERM, as a runner does when the job ends or is cancelled");
        var exitCode = await agent.TerminateAsync();
        ShowNewLogs();
        // Windows cannot signal another console process, so there the agent is killed instead.
        if (exitCode != 0 && !OperatingSystem.IsWindows())
        {
            throw new InvalidOperationException($"the agent exited with code {exitCode} after SIGTERM; expected 0");
        }

        // What really happened, from the broker's own record: the agent closes its lease on the way out, unless the
        // broker could not be told (then the lease lapses at its expiry).
        var leaseId = FindLeaseId(broker);
        var closed = leaseId is not null && broker.Logs.Entries.Any(e => e.EventId.Name == "SessionClosed" && e.Message.Contains(leaseId, StringComparison.Ordinal));
        _narrator.Detail(closed
            ? $"exit code 0: every tunnel closed; lease {leaseId} closed by the agent (the broker logged SessionClosed)"
            : $"exit code 0: every tunnel closed; the broker saw no close of lease {leaseId ?? "(none found)"}: it lapses at its expiry");
        return new LeaseOutcome(leaseId, closed);
    }

    /// <summary>PostgreSQL as <c>--target</c> asks; null when the demo runs on the echo server alone.</summary>
    private async Task<PostgresServer?> StartPostgresAsync(Teardown teardown)
    {
        if (options.Target == DemoTarget.Echo)
        {
            return null;
        }

        _narrator.Step("target", "starting a throwaway PostgreSQL cluster (initdb and pg_ctl in a temp folder)");
        // Bounded inside: each initdb or pg_ctl run may take at most 90 s. An outer timeout could abandon a
        // cluster that starts a moment later, with nobody left to stop it.
        var postgres = await PostgresServer.StartAsync();
        if (postgres is null)
        {
            if (options.Target == DemoTarget.Postgres)
            {
                throw new InvalidOperationException("PostgreSQL is not installed: no initdb, pg_ctl and postgres on PATH or under /usr/lib/postgresql");
            }

            _narrator.Detail("PostgreSQL is not installed here; the demo uses the echo server instead");
            return null;
        }

        teardown.Add("PostgreSQL cluster", postgres);
        _narrator.Detail($"PostgreSQL on {postgres.Address}{(Environment.IsPrivilegedProcess ? ", run as user postgres since this is root" : string.Empty)}");
        return postgres;
    }

    private async Task<AgentProcess> StartAgentAsync(Teardown teardown, DevIssuer issuer, BrokerUnderTest broker, string[] targets)
    {
        var args = new List<string> { "up", "--broker", broker.Address.ToString() };
        foreach (var target in targets)
        {
            args.Add("--forward");
            args.Add($"0:{target}");
        }

        _narrator.Step("agent", $"ghaport {string.Join(' ', args)}");
        _narrator.Detail("a real child process (dotnet ghaport.dll) with a GitHub Actions job's environment:");
        _narrator.Detail("GITHUB_ACTIONS=true, ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN");
        var agent = teardown.Add("agent", AgentProcess.Start(args, AgentUnderTest.GitHubEnvironment(issuer)));
        _logs.Insert(0, LogTail.ForAgent(agent));
        await agent.WaitReadyAsync(targets.Length);
        ShowNewLogs();
        _narrator.Detail($"agent (pid {agent.Id}) printed:");
        foreach (var line in agent.Output.Lines.Where(l => l.StartsWith("ready ", StringComparison.Ordinal)))
        {
            _narrator.Detail("  " + line);
        }

        return agent;
    }

    private void ShowNewLogs()
    {
        foreach (var log in _logs)
        {
            log.ShowNew(_narrator);
        }
    }

    private static string? FindLeaseId(BrokerUnderTest broker) =>
        broker.Logs.Entries.Where(e => e.EventId.Name == "SessionGranted")
            .Select(e => LeaseIdPattern().Match(e.Message))
            .FirstOrDefault(m => m.Success)?.Value;

    [GeneratedRegex("lse_[0-9a-f]+", RegexOptions.CultureInvariant)]
    private static partial Regex LeaseIdPattern();
}
