using System.Text;
using GitHubActionsPort.Broker.Configuration;
using GitHubActionsPort.Broker.Leases;
using Microsoft.Extensions.Primitives;

namespace GitHubActionsPort.Broker.Policy;

/// <summary>
/// Keeps the policy in step with the configuration file. On each change it re-reads the <c>Broker</c> section: a
/// valid one puts its targets, rules and lease lengths in force at once (issuers and transport are wired into
/// the running host, so a change to them waits for a restart, with a warning); an invalid one, or one holding a
/// key nothing reads (<see cref="UnknownKeys"/>), is rejected whole with an error, and the policy in force stays.
/// A valid one that leaves no rule, or that would end every live lease, is applied with a warning saying so.
/// After a swap every live lease is judged again and ended if the new policy would not grant it. Logs the risky
/// rules of every policy it puts in force, the first included.
/// </summary>
internal sealed class PolicyReloader(
    IConfiguration configuration,
    PolicyStore store,
    AccessPolicy policy,
    LeaseStore leases,
    Audit.AuditTrail audit,
    TimeProvider time,
    ILogger<PolicyReloader> logger) : IHostedService, IDisposable
{
    /// <summary>
    /// A session decided under the old policy may be granted just after the swap; judging the leases once more a
    /// moment later ends it too.
    /// </summary>
    private static readonly TimeSpan SecondLook = TimeSpan.FromSeconds(1);

    internal const string LeaseEndReason = "the policy no longer permits it";

    /// <summary>A reload is recorded in the audit trail whether it was applied or not; a failed write is only logged.</summary>
    private void Record(bool applied, string detail) =>
        audit.PolicyReloadedAsync(applied, detail).ContinueWith(
            write => PolicyLog.PolicyReloadNotAudited(logger, write.Exception!.GetBaseException().Message),
            CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _stopping = new();
    private IDisposable? _watch;
    private string? _lastSeen;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var risk in PolicyRisks.Of(store.Current))
        {
            PolicyLog.Risk(logger, risk);
        }

        // No fingerprint yet: the file may have changed since the host read it, so the first change is always read.
        _watch = ChangeToken.OnChange(configuration.GetReloadToken, Reload);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _watch?.Dispose();
        await _stopping.CancelAsync().ConfigureAwait(false);
    }

    public void Dispose()
    {
        _watch?.Dispose();
        _stopping.Dispose();
    }

    /// <summary>Re-reads the configuration and, if it is valid and changed, puts it in force.</summary>
    internal void Reload()
    {
        try
        {
            lock (_gate)
            {
                if (!TryApply())
                {
                    return;
                }
            }

            EndLeasesNoLongerPermitted();
            _ = LookAgainAsync();
        }
        catch (Exception ex)
        {
            // The file watcher's thread calls this: a failure must be logged, never lost or fatal.
            PolicyLog.PolicyReloadFailed(logger, ex);
        }
    }

    private bool TryApply()
    {
        // Checked first: a file that failed to parse still shows its last good contents, which look unchanged.
        foreach (var file in ConfigFiles())
        {
            if (file.LastError is { } error)
            {
                PolicyLog.ConfigFileUnusable(logger, file.FilePath, "is not valid JSON: " + JsonFileError.Describe(error));
                return false;
            }

            if (file.LostItsData)
            {
                PolicyLog.ConfigFileUnusable(logger, file.FilePath, "is missing or empty");
                return false;
            }
        }

        // One save can raise several change events; the same text is not news.
        var seen = Fingerprint();
        if (seen == _lastSeen)
        {
            return false;
        }

        _lastSeen = seen;
        BrokerSettings? next = null;
        var errors = new List<string>();
        try
        {
            next = BrokerSettingsReader.Read(configuration);
        }
        catch (BrokerConfigurationException ex)
        {
            errors.AddRange(ex.Errors);
        }

        // A misspelt key is as bad here as at start-up: "Rule" for "Rules" would otherwise read as a policy of no rules.
        errors.AddRange(UnknownKeys.Find(configuration));
        if (next is null || errors.Count > 0)
        {
            PolicyLog.PolicyReloadRejected(logger, string.Join(" | ", errors));
            Record(applied: false, "kept the last good policy: " + string.Join(" | ", errors));
            return false;
        }

        var running = store.Current;
        if (!SameIssuers(running.Issuers, next.Issuers))
        {
            PolicyLog.RestartRequired(logger, "Broker:Issuers");
        }

        if (running.Transport != next.Transport)
        {
            PolicyLog.RestartRequired(logger, "Broker:Transport");
        }

        var candidate = running with { Targets = next.Targets, Rules = next.Rules, Leases = next.Leases };
        var (live, ending) = LeasesEndedBy(candidate);
        store.Replace(candidate);

        // Valid, and applied as the file says, but rarely what was meant: said loudly, with what it costs.
        if (next.Rules.Count == 0)
        {
            PolicyLog.PolicyReloadLeavesNoRule(logger, live);
        }
        else if (live > 0 && ending == live)
        {
            PolicyLog.PolicyReloadEndsEveryLease(logger, live);
        }

        PolicyLog.PolicyReloaded(logger, next.Rules.Count, next.Targets.Count);
        Record(applied: true, $"{next.Rules.Count} rules, {next.Targets.Count} targets");
        foreach (var risk in PolicyRisks.Of(next))
        {
            PolicyLog.Risk(logger, risk);
        }

        return true;
    }

    /// <summary>How many leases are live, and how many of them <paramref name="candidate"/> would not grant.</summary>
    private (int Live, int Ending) LeasesEndedBy(BrokerSettings candidate)
    {
        var judge = new AccessPolicy(new PolicyStore(candidate));
        var live = leases.Live.ToList();
        return (live.Count, live.Count(lease => !judge.Decide(lease.Caller, lease.Targets, null).Allowed));
    }

    private void EndLeasesNoLongerPermitted()
    {
        foreach (var lease in leases.Live.ToList())
        {
            if (!policy.Decide(lease.Caller, lease.Targets, null).Allowed)
            {
                leases.EndSoon(lease, LeaseEndReason, LeaseEndKind.NoLongerPermitted);
                PolicyLog.LeaseEndedByPolicy(logger, lease.Id, lease.Caller.Describe(), string.Join(',', lease.Targets.Order(StringComparer.Ordinal)));
            }
        }
    }

    private async Task LookAgainAsync()
    {
        try
        {
            await Task.Delay(SecondLook, time, _stopping.Token).ConfigureAwait(false);
            EndLeasesNoLongerPermitted();
        }
        catch (OperationCanceledException)
        {
            // The broker is stopping; its leases end with it.
        }
        catch (ObjectDisposedException)
        {
            // Disposed while waiting: the same.
        }
    }

    private IEnumerable<WatchedJsonConfigurationProvider> ConfigFiles() =>
        configuration is IConfigurationRoot root ? root.Providers.OfType<WatchedJsonConfigurationProvider>() : [];

    /// <summary>The whole <c>Broker</c> section as text: cheap to compare, bounded by the configuration's size.</summary>
    private string Fingerprint()
    {
        var text = new StringBuilder();
        // Listed without counting as looked up: the check for unknown keys must see only what the readers ask for.
        foreach (var (key, value) in UnknownKeys.List(configuration).OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            text.Append(key).Append('=').Append(value).Append('\n');
        }

        return text.ToString();
    }

    private static bool SameIssuers(IReadOnlyList<IssuerSettings> a, IReadOnlyList<IssuerSettings> b) =>
        a.Count == b.Count && a.Zip(b).All(p => p.First.Issuer == p.Second.Issuer && p.First.Audiences.SequenceEqual(p.Second.Audiences));
}
