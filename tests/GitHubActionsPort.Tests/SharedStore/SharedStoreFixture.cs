using System.Security.Cryptography;
using GitHubActionsPort.Broker.DevIssuer;
using GitHubActionsPort.Broker.Store;
using GitHubActionsPort.Protocol.V1;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using BrokerClient = GitHubActionsPort.Protocol.V1.Broker.BrokerClient;

namespace GitHubActionsPort.Tests.SharedStore;

/// <summary>
/// Two in-process brokers, A and B, sharing one state store object (as instances share one database), with one admin
/// credential; started afresh for each test, so no test sees another's blocks or leases.
/// </summary>
public abstract class SharedStoreFixture
{
    private readonly List<BrokerUnderTest> _brokers = [];
    private string _folder = null!;

    protected DevIssuer Issuer { get; private set; } = null!;

    protected TcpTestServer Echo { get; private set; } = null!;

    internal MemoryBrokerStore Store { get; private set; } = null!;

    protected BrokerUnderTest A { get; private set; } = null!;

    protected BrokerUnderTest B { get; private set; } = null!;

    protected string TokenFile { get; private set; } = null!;

    [OneTimeSetUp]
    public async Task StartIssuerAsync()
    {
        Issuer = await DevIssuer.StartAsync().DefaultTimeout();
        Echo = TcpTestServer.Echo();
    }

    [OneTimeTearDown]
    public async Task StopIssuerAsync()
    {
        await Echo.DisposeAsync();
        await Issuer.DisposeAsync();
    }

    [SetUp]
    public async Task StartBrokersAsync()
    {
        _folder = Directory.CreateTempSubdirectory("ghaport-shared-").FullName;
        TokenFile = Path.Combine(_folder, "admin-token");
        await File.WriteAllTextAsync(TokenFile, Convert.ToHexString(RandomNumberGenerator.GetBytes(32)) + "\n");
        Store = new MemoryBrokerStore(TimeProvider.System);
        A = await StartBrokerAsync();
        B = await StartBrokerAsync();
    }

    [TearDown]
    public async Task StopBrokersAsync()
    {
        foreach (var broker in _brokers)
        {
            await broker.DisposeAsync();
        }

        _brokers.Clear();
        await Store.DisposeAsync();
        Directory.Delete(_folder, recursive: true);
    }

    /// <summary>Another broker on the same store: a restart of one that stopped, or a third instance.</summary>
    protected async Task<BrokerUnderTest> StartBrokerAsync()
    {
        var configuration = BrokerUnderTest.DefaultConfiguration(Issuer.Issuer, new Dictionary<string, string> { ["echo"] = Echo.Address });
        configuration["Broker:Admin:TokenFile"] = TokenFile;
        configuration["Broker:Store:Kind"] = "memory";
        var store = Store;
        var broker = await BrokerUnderTest.StartAsync(configuration, TestContext.Progress, services: s => s.AddSingleton<IBrokerStore>(store));
        _brokers.Add(broker);
        return broker;
    }

    /// <summary>Stops <paramref name="broker"/> now (a restart's first half).</summary>
    protected async Task StopBrokerAsync(BrokerUnderTest broker)
    {
        _brokers.Remove(broker);
        await broker.DisposeAsync();
    }

    /// <summary>The id the broker's instance has in the store.</summary>
    protected static string InstanceId(BrokerUnderTest broker) => broker.Services.GetRequiredService<BrokerInstance>().Id;

    /// <summary>Opens a session at <paramref name="broker"/> for <c>echo</c> with <paramref name="idToken"/> (a fresh one when null).</summary>
    protected async Task<OpenSessionResponse> OpenSessionAsync(BrokerUnderTest broker, string? idToken = null)
    {
        ArgumentNullException.ThrowIfNull(broker);
        using var channel = GrpcChannel.ForAddress(broker.Address);
        using var sessionKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new OpenSessionRequest
        {
            IdToken = idToken ?? Issuer.MintToken("ghaport"),
            Targets = { "echo" },
            SessionPublicKey = Google.Protobuf.ByteString.CopyFrom(sessionKey.ExportSubjectPublicKeyInfo()),
        };
        return await new BrokerClient(channel).OpenSessionAsync(request, deadline: DateTime.UtcNow + TaskTimeouts.Default).ResponseAsync.DefaultTimeout();
    }

    /// <summary>Runs <c>ghaport-broker sessions ...</c> against <paramref name="broker"/>'s admin endpoint.</summary>
    protected Task<(int ExitCode, string Output, string Error)> SessionsAsync(BrokerUnderTest broker, params string[] args)
    {
        ArgumentNullException.ThrowIfNull(broker);
        return AdminCalls.SessionsAsync(broker.AdminAddress!, TokenFile, args);
    }

    /// <summary>
    /// Waits until <paramref name="broker"/> read the standing blocks again and found <paramref name="count"/>: a change
    /// another instance made has reached it. <paramref name="seenBefore"/> is <see cref="BlocksLoadedCount"/> taken before the change.
    /// </summary>
    protected static Task BlocksHeardAsync(BrokerUnderTest broker, int count, int seenBefore)
    {
        ArgumentNullException.ThrowIfNull(broker);
        return broker.Logs.WaitForAsync(e => IsBlocksLoaded(e, count), seenBefore + 1).DefaultTimeout();
    }

    /// <summary>How often <paramref name="broker"/> has read <paramref name="count"/> standing blocks so far.</summary>
    protected static int BlocksLoadedCount(BrokerUnderTest broker, int count)
    {
        ArgumentNullException.ThrowIfNull(broker);
        return broker.Logs.Entries.Count(e => IsBlocksLoaded(e, count));
    }

    private static bool IsBlocksLoaded(LogEntry entry, int count) =>
        entry.EventId.Name == "BlocksLoaded" && entry.Message.EndsWith($": {count} standing", StringComparison.Ordinal);
}
