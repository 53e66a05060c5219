using System.Diagnostics;
using System.Globalization;
using GitHubActionsPort.Broker.Store;
using Microsoft.Extensions.Logging.Abstractions;

namespace GitHubActionsPort.Tests.Store;

/// <summary>
/// What one call of the hot-path writes costs on each store on this machine: the median and 99th percentile of
/// 1,000 calls of a proof nonce's use, a tunnel slot taken and given back, and a lease recorded. Prints numbers and
/// asserts none of them: run it by hand (<c>dotnet test --filter FullyQualifiedName~StoreMeasurements</c>).
/// </summary>
[Explicit("a measurement, not a test: it prints timings and asserts nothing on them")]
public sealed class StoreMeasurements
{
    private const int Calls = 1000;

    [Test]
    public async Task HotPathWrites_PerCall_ByStore()
    {
        var folder = Directory.CreateTempSubdirectory("ghaport-store-measure-");
        var postgres = await PostgresServer.StartAsync().WithTimeout(TimeSpan.FromMinutes(2));
        try
        {
            await MeasureAsync("memory", new MemoryBrokerStore(TimeProvider.System));
            await MeasureAsync("sqlite", new SqliteBrokerStore(Path.Combine(folder.FullName, "state.db"), TimeProvider.System));
            if (postgres is not null)
            {
                // The test cluster runs with fsync=off: a production server's commit waits for its WAL flush on top.
                await MeasureAsync("postgres", new PostgresBrokerStore(
                    $"Host=127.0.0.1;Port={postgres.Port};Username={PostgresServer.User};Database=postgres", "ghaport", TimeProvider.System, NullLogger.Instance));
            }
        }
        finally
        {
            if (postgres is not null)
            {
                await postgres.DisposeAsync();
            }

            folder.Delete(recursive: true);
        }
    }

    private static async Task MeasureAsync(string name, IBrokerStore store)
    {
        await using (store)
        {
            await store.OpenAsync(default).DefaultTimeout();
            var now = DateTimeOffset.UtcNow;
            var lease = 0;
            var insert = await TimeAsync(() => store.InsertLeaseAsync(Lease($"lease-{lease++}", now), default));
            await store.InsertLeaseAsync(Lease("hot", now), default);
            var nonce = 0;
            var nonces = await TimeAsync(() => store.TryUseProofNonceAsync("hot", $"nonce-{nonce++}", now.AddMinutes(1), default));
            var tunnel = 0;
            var tunnels = await TimeAsync(async () =>
            {
                var id = $"tunnel-{tunnel++}";
                await store.TryOpenTunnelAsync(new TunnelRecord(id, "hot", "db", "ins-a", now), 4, default);
                await store.CloseTunnelAsync(id, default);
            });

            await TestContext.Progress.WriteLineAsync(string.Create(
                CultureInfo.InvariantCulture,
                $"{name,-8} InsertLease {insert}   TryUseProofNonce {nonces}   TryOpenTunnel+CloseTunnel {tunnels}"));
        }
    }

    /// <summary>Median and p99 of <see cref="Calls"/> calls, after 50 to warm up.</summary>
    private static async Task<string> TimeAsync(Func<Task> call)
    {
        for (var i = 0; i < 50; i++)
        {
            await call();
        }

        var samples = new double[Calls];
        for (var i = 0; i < Calls; i++)
        {
            var start = Stopwatch.GetTimestamp();
            await call();
            samples[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
        }

        Array.Sort(samples);
        return string.Create(CultureInfo.InvariantCulture, $"p50 {samples[Calls / 2],7:0} us p99 {samples[Calls * 99 / 100],7:0} us");
    }

    private static LeaseRecord Lease(string id, DateTimeOffset now) => new(
        id, "https://token.actions.githubusercontent.com", "repo:acme/app:ref:refs/heads/main", "jti-" + id, now.AddMinutes(5),
        new Dictionary<string, string> { ["repository"] = "acme/app", ["run_id"] = "1234", ["run_attempt"] = "1", ["ref"] = "refs/heads/main", ["sha"] = new string('a', 40) },
        [], ["db"], now, now.AddMinutes(15), now.AddHours(6), 16, "thumbprint-" + id, new byte[91], "ins-a", null);
}
