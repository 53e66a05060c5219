using System.Diagnostics.Metrics;

namespace GitHubActionsPort.Broker.Telemetry;

/// <summary>
/// The broker's own instruments, under the meter <c>GitHubActionsPort.Broker</c> (tunnel bytes and counts come from
/// <c>GitHubActionsPort.Tunnels</c>, shared with the agent). Published on <c>/metrics</c> in Prometheus format.
/// </summary>
internal static class BrokerMetrics
{
    public const string MeterName = "GitHubActionsPort.Broker";

    private static readonly Meter Meter = new(MeterName);

    private static readonly Counter<long> Sessions = Meter.CreateCounter<long>(
        "ghaport.sessions", "{session}", "Session requests by outcome (granted, denied, rejected, rate_limited).");

    private static readonly UpDownCounter<long> LiveLeases = Meter.CreateUpDownCounter<long>(
        "ghaport.leases.live", "{lease}", "Leases granted and not yet ended.");

    private static readonly Histogram<double> DialSeconds = Meter.CreateHistogram<double>(
        "ghaport.target.dial.duration", "s", "Time to connect to a target, by outcome.");

    private static readonly Histogram<double> TunnelSeconds = Meter.CreateHistogram<double>(
        "ghaport.tunnel.duration", "s", "How long tunnels lived.");

    private static readonly Counter<long> KeyRefreshes = Meter.CreateCounter<long>(
        "ghaport.issuer.key_refreshes", "{refresh}", "Fetches of an issuer's signing keys, by outcome.");

    private static readonly Counter<long> AuditWriteFailures = Meter.CreateCounter<long>(
        "ghaport.audit.write_failures", "{record}", "Audit records that could not be written (what needed them was refused).");

    private static readonly Counter<long> RefusalsAggregated = Meter.CreateCounter<long>(
        "ghaport.audit.refusals_aggregated", "{refusal}", "Refused id-tokens counted into an aggregate session.rejected record instead of written one by one.");

    // One trail per broker process; a test host running several brokers sees the last one to change.
    private static int _auditWritable = 1;

    private static readonly ObservableGauge<int> AuditWritableGauge = Meter.CreateObservableGauge(
        "ghaport.audit.writable", () => Volatile.Read(ref _auditWritable), "{state}", "1 while the audit trail can be written; 0 when it cannot (sessions and tunnels are refused).");

    // One drain per broker process, as the audit trail above.
    private static int _draining;

    private static readonly ObservableGauge<int> DrainingGauge = Meter.CreateObservableGauge(
        "ghaport.draining", () => Volatile.Read(ref _draining), "{state}", "1 while the broker drains (stopping: new sessions and tunnels refused, open tunnels finishing); else 0.");

    // One store per broker process, like the audit trail: a test host running several brokers sees the last to change.
    private static int _storeUp = 1;
    private static long _storeContactTicks = DateTimeOffset.UtcNow.UtcTicks;

    private static readonly ObservableGauge<int> StoreUpGauge = Meter.CreateObservableGauge(
        "ghaport.store.up", () => Volatile.Read(ref _storeUp), "{state}", "1 while the state store answers; 0 while it cannot be reached (new sessions and tunnels are refused).");

    private static readonly Counter<long> StoreErrors = Meter.CreateCounter<long>(
        "ghaport.store.errors", "{call}", "State store calls that could not reach the store.");

    private static readonly ObservableGauge<double> StoreLastContactGauge = Meter.CreateObservableGauge(
        "ghaport.store.last_contact", () => (DateTimeOffset.UtcNow - new DateTimeOffset(Interlocked.Read(ref _storeContactTicks), TimeSpan.Zero)).TotalSeconds,
        "s", "Seconds since a state store call last succeeded; past Broker:Store:MaxStaleness open tunnels are ended.");

    public static void StoreUp(bool up) => Volatile.Write(ref _storeUp, up ? 1 : 0);

    public static void StoreError() => StoreErrors.Add(1);

    public static void StoreContact(DateTimeOffset at) => Interlocked.Exchange(ref _storeContactTicks, at.UtcTicks);

    public static void AuditWriteFailed(int records) => AuditWriteFailures.Add(records);

    public static void Draining(bool draining) => Volatile.Write(ref _draining, draining ? 1 : 0);

    public static void AuditWritable(bool writable) => Volatile.Write(ref _auditWritable, writable ? 1 : 0);

    public static void RefusalAggregated() => RefusalsAggregated.Add(1);
    private static readonly Counter<long> ConnectionsShed = Meter.CreateCounter<long>(
        "ghaport.connections.shed", "{connection}",
        "Connections closed or refused before they proved themselves, by listener and reason (evicted_full, evicted_source, prove_timeout, refused_full, refused_source).");

    public static void SessionGranted()
    {
        Sessions.Add(1, new KeyValuePair<string, object?>("outcome", "granted"));
        LiveLeases.Add(1);
    }

    public static void SessionDenied() => Sessions.Add(1, new KeyValuePair<string, object?>("outcome", "denied"));

    public static void SessionRejected() => Sessions.Add(1, new KeyValuePair<string, object?>("outcome", "rejected"));

    /// <summary>An OpenSession answered without looking at its id-token: its address failed too often (SessionFailureLimiter).</summary>
    public static void SessionRateLimited() => Sessions.Add(1, new KeyValuePair<string, object?>("outcome", "rate_limited"));

    public static void ConnectionShed(string listener, string reason) =>
        ConnectionsShed.Add(1, new KeyValuePair<string, object?>("listener", listener), new KeyValuePair<string, object?>("reason", reason));

    public static void LeaseEnded() => LiveLeases.Add(-1);

    public static void Dialled(TimeSpan elapsed, bool connected) =>
        DialSeconds.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("outcome", connected ? "connected" : "failed"));

    public static void TunnelEnded(TimeSpan lifetime) => TunnelSeconds.Record(lifetime.TotalSeconds);

    public static void KeysRefreshed(bool succeeded) =>
        KeyRefreshes.Add(1, new KeyValuePair<string, object?>("outcome", succeeded ? "succeeded" : "failed"));
}
