using System.Diagnostics;
using System.Globalization;
using GitHubActionsPort.Broker.DevIssuer;
using GitHubActionsPort.Harness.Output;
using Grpc.Net.Client;
using BrokerClient = GitHubActionsPort.Protocol.V1.Broker.BrokerClient;

namespace GitHubActionsPort.Harness.Bench.Stores;

/// <summary>
/// What each state store costs where it is written: session grants per second (a lease, a replay record and a signed
/// token each) and tunnel opens per second (a proof nonce and a connection slot each), with <c>memory</c>,
/// <c>sqlite</c> and <c>postgres</c> side by side in one run. Each store gets an in-process broker of its own with the
/// audit trail on, and the same clients: <see cref="Concurrency"/> calls in flight over one HTTP/2 connection.
/// </summary>
internal sealed class StoreBench(int sessions, int tunnelOpens, Narrator narrator)
{
    private const int Concurrency = 8;

    public static string Name => $"state stores: sessions and tunnel opens per second, {Concurrency} at a time, in-process broker";

    /// <summary>Measures each store it can start; a store that cannot start (no PostgreSQL) is named in <paramref name="notes"/>.</summary>
    public async Task<IReadOnlyList<StoreRate>> RunAsync(List<string> notes, CancellationToken stopping)
    {
        ArgumentNullException.ThrowIfNull(notes);
        await using var issuer = await DevIssuer.StartAsync(cancellationToken: stopping);
        await using var echo = TcpTestServer.Echo();
        var stateDirectory = Directory.CreateTempSubdirectory("ghaport-bench-stores-").FullName;
        var rates = new List<StoreRate>();
        try
        {
            rates.Add(await MeasureAsync("memory", issuer, echo, new() { ["Broker:Store:Kind"] = "memory" }, stopping));
            rates.Add(await MeasureAsync("sqlite", issuer, echo, new() { ["Broker:Store:Kind"] = "sqlite", ["Broker:Store:Path"] = Path.Combine(stateDirectory, "broker-state.db") }, stopping));
            await using var postgres = await PostgresServer.StartAsync();
            if (postgres is null)
            {
                notes.Add("state stores: postgres not measured, PostgreSQL's server binaries (initdb, pg_ctl, postgres) not found");
            }
            else
            {
                // The fixture runs with fsync off (a throwaway cluster): the figure is the round trips', not the disk's.
                rates.Add(await MeasureAsync("postgres", issuer, echo, new()
                {
                    ["Broker:Store:Kind"] = "postgres",
                    ["Broker:Store:ConnectionString"] = $"Host=127.0.0.1;Port={postgres.Port};Username={PostgresServer.User};Database=postgres",
                }, stopping));
            }
        }
        finally
        {
            Directory.Delete(stateDirectory, recursive: true);
        }

        return rates;
    }

    /// <summary>The table, with each store against memory (the in-process baseline measured in the same run).</summary>
    public static void Write(IReadOnlyList<StoreRate> rates, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(rates);
        ArgumentNullException.ThrowIfNull(output);
        var memory = rates.FirstOrDefault(r => r.Store == "memory");
        output.WriteLine($"State stores ({Name}):");
        output.WriteLine("store       sessions/s  tunnel opens/s  sessions / memory  opens / memory");
        output.WriteLine("--------  ------------  --------------  -----------------  --------------");
        foreach (var rate in rates)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{rate.Store,-8}  {ResultTable.Number(rate.SessionsPerSecond),12}  {ResultTable.Number(rate.TunnelOpensPerSecond),14}  {Ratio(rate.SessionsPerSecond, memory?.SessionsPerSecond),17}  {Ratio(rate.TunnelOpensPerSecond, memory?.TunnelOpensPerSecond),14}"));
        }
    }

    private static string Ratio(double value, double? baseline) =>
        baseline is > 0 ? (value / baseline.Value).ToString("0.000", CultureInfo.InvariantCulture) : "-";

    private async Task<StoreRate> MeasureAsync(string store, DevIssuer issuer, TcpTestServer echo, Dictionary<string, string?> storeSettings, CancellationToken stopping)
    {
        narrator.Step("measure", $"state store {store}: {sessions:N0} sessions, then {tunnelOpens:N0} tunnel opens");
        var configuration = BrokerUnderTest.DefaultConfiguration(issuer.Issuer, new Dictionary<string, string> { ["echo"] = echo.Address });
        // Room for every tunnel in flight while closed ones give their slots back.
        configuration["Broker:Rules:0:MaxConnections"] = "1000";
        foreach (var (key, value) in storeSettings)
        {
            configuration[key] = value;
        }

        await using var broker = await BrokerUnderTest.StartAsync(configuration);
        using var channel = GrpcChannel.ForAddress(broker.Address);
        var client = new BrokerClient(channel);
        var tokens = Enumerable.Range(0, sessions + 1).Select(_ => issuer.MintToken("ghaport")).ToArray();
        using var held = await RawSession.OpenAsync(client, tokens[^1], ["echo"]);

        var next = -1;
        var started = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, Concurrency).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < sessions)
            {
                stopping.ThrowIfCancellationRequested();
                using var session = await RawSession.OpenAsync(client, tokens[i], ["echo"]);
            }
        }));
        var sessionsPerSecond = sessions / Stopwatch.GetElapsedTime(started).TotalSeconds;

        next = -1;
        started = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, Concurrency).Select(async _ =>
        {
            while (Interlocked.Increment(ref next) < tunnelOpens)
            {
                stopping.ThrowIfCancellationRequested();
                var (call, refusal) = await held.TunnelAsync(held.Headers("Tunnel", "echo"));
                using (call)
                {
                    if (refusal is not null)
                    {
                        throw new InvalidOperationException($"store {store}: a tunnel was refused: {refusal.Status.Detail}");
                    }

                    await call.RequestStream.CompleteAsync();
                }
            }
        }));
        var opensPerSecond = tunnelOpens / Stopwatch.GetElapsedTime(started).TotalSeconds;
        narrator.Detail(string.Create(CultureInfo.InvariantCulture, $"{store}: {sessionsPerSecond:N0} sessions/s, {opensPerSecond:N0} tunnel opens/s"));
        return new StoreRate(store, sessionsPerSecond, opensPerSecond);
    }
}
