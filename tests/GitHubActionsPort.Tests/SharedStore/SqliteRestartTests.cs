using System.Net.Sockets;
using System.Runtime.Versioning;
using GitHubActionsPort.Broker.DevIssuer;
using Grpc.Core;
using Grpc.Net.Client;
using BrokerClient = GitHubActionsPort.Protocol.V1.Broker.BrokerClient;

namespace GitHubActionsPort.Tests.SharedStore;

/// <summary>
/// One broker on the default store (an embedded sqlite file), killed with SIGKILL and started again: the lease, a
/// standing block and a spent id-token are all still there, and the file is the broker's alone.
/// </summary>
public sealed class SqliteRestartTests
{
    private DevIssuer _issuer = null!;
    private TcpTestServer _echo = null!;
    private TcpBalancer _front = null!;
    private string _directory = null!;
    private string _adminTokenFile = null!;
    private Dictionary<string, string?> _configuration = null!;
    private readonly List<ChildProcess> _brokers = [];

    private string StorePath => Path.Combine(_directory, "state", "broker-state.db");

    [SetUp]
    public async Task StartAsync()
    {
        _issuer = await DevIssuer.StartAsync().DefaultTimeout();
        _echo = TcpTestServer.Echo();
        // The agent is given one address that stays put while the broker behind it is replaced.
        _front = new TcpBalancer();
        _directory = Directory.CreateTempSubdirectory("ghaport-sqlite-").FullName;
        _adminTokenFile = Path.Combine(_directory, "admin-token");
        await File.WriteAllTextAsync(_adminTokenFile, Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)));
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(_adminTokenFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        _configuration = BrokerUnderTest.DefaultConfiguration(_issuer.Issuer, new Dictionary<string, string> { ["echo"] = _echo.Address });
        // No Broker:Store:Kind: sqlite is the default, its file beside the lease signing key. Null keeps the test
        // harness from giving each start a store file of its own: every start here must find the same file.
        _configuration["Broker:Store:Path"] = null;
        _configuration["Broker:Leases:SigningKeyPath"] = Path.Combine(_directory, "state", "lease-signing-key.pem");
        _configuration["Broker:Admin:TokenFile"] = _adminTokenFile;
        _configuration["Broker:Lanes:Raw:Enabled"] = "false";
    }

    [TearDown]
    public async Task StopAsync()
    {
        foreach (var broker in _brokers)
        {
            await broker.DisposeAsync();
        }

        _brokers.Clear();
        await _front.DisposeAsync();
        await _echo.DisposeAsync();
        await _issuer.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    [Test]
    public async Task Killed_AndStartedAgain_TheLeaseStillOpensTunnels_WithoutANewIdToken()
    {
        var broker = await StartBrokerAsync();
        var tokenFile = Path.Combine(_directory, "id-token");
        await File.WriteAllTextAsync(tokenFile, _issuer.MintToken("ghaport"));
        await using var agent = await AgentUnderTest.StartAsync(
            _front.Url(), ["0:echo"], new Dictionary<string, string?>(), extraArgs: ["--id-token-file", tokenFile], echo: TestContext.Progress);
        using (var before = await SocketIo.ConnectAsync(agent["echo"]))
        {
            await AssertEchoesAsync(before, 1);
        }

        broker.Kill();
        await broker.WaitForExitAsync();
        var restarted = await StartBrokerAsync();
        using var after = await SocketIo.ConnectAsync(agent["echo"]);
        await AssertEchoesAsync(after, 2);
        Assert.That(restarted.Output.Lines.Count(l => l.Contains("granted to", StringComparison.Ordinal)), Is.Zero, "the lease came from the file, not a new session");
    }

    [Test]
    public async Task Killed_AndStartedAgain_ABlockAndASpentIdTokenStillHold()
    {
        var broker = await StartBrokerAsync();
        var spent = _issuer.MintToken("ghaport");
        using (var channel = GrpcChannel.ForAddress(_front.Url()))
        using (await RawSession.OpenAsync(new BrokerClient(channel), spent, ["echo"]))
        {
        }

        var admin = new Uri(broker.Output.Lines.First(l => l.StartsWith("admin ", StringComparison.Ordinal))["admin ".Length..]);
        var (exitCode, output, error) = await AdminCalls.SessionsAsync(admin, _adminTokenFile, "revoke", "--claim", "repository=acme/app", "--block", "--reason", "incident");
        Assert.That(exitCode, Is.Zero, output + error);

        broker.Kill();
        await broker.WaitForExitAsync();
        await StartBrokerAsync();

        var replayed = await RefusedAsync(spent);
        Assert.That(replayed.StatusCode, Is.EqualTo(StatusCode.Unauthenticated), replayed.Status.Detail);
        Assert.That(replayed.Status.Detail, Does.Contain("already"));
        var blocked = await RefusedAsync(_issuer.MintToken("ghaport"));
        Assert.That(blocked.StatusCode, Is.EqualTo(StatusCode.PermissionDenied), blocked.Status.Detail);
        Assert.That(blocked.Status.Detail, Does.Contain("blocked"));
    }

    [Test]
    [UnsupportedOSPlatform("windows")]
    public async Task TheStoreFile_IsTheBrokersAlone()
    {
        if (OperatingSystem.IsWindows())
        {
            Assert.Ignore("Unix file modes; on Windows the file takes its folder's ACL.");
        }

        var broker = await StartBrokerAsync();
        using (var channel = GrpcChannel.ForAddress(_front.Url()))
        using (await RawSession.OpenAsync(new BrokerClient(channel), _issuer.MintToken("ghaport"), ["echo"]))
        {
        }

        Assert.That(File.Exists(StorePath), Is.True, string.Join(Environment.NewLine, broker.Output.Lines));
        foreach (var file in Directory.GetFiles(Path.GetDirectoryName(StorePath)!, "broker-state.db*"))
        {
            Assert.That(File.GetUnixFileMode(file) & (UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite), Is.EqualTo(UnixFileMode.None), file);
        }
    }

    private async Task<ChildProcess> StartBrokerAsync()
    {
        var broker = BrokerProcess.Start(["--urls", "http://127.0.0.1:0"], BrokerProcess.Environment(_configuration));
        _brokers.Add(broker);
        var address = await broker.WaitListeningAsync().DefaultTimeout();
        await broker.WaitForOutputAsync(l => l.StartsWith("admin ", StringComparison.Ordinal)).DefaultTimeout();
        _front.Route(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, address.Port));
        return broker;
    }

    private async Task<RpcException> RefusedAsync(string idToken)
    {
        using var channel = GrpcChannel.ForAddress(_front.Url());
        try
        {
            using var session = await RawSession.OpenAsync(new BrokerClient(channel), idToken, ["echo"]);
        }
        catch (RpcException refusal)
        {
            return refusal;
        }

        Assert.Fail("the restarted broker granted a session it should have refused");
        throw new System.Diagnostics.UnreachableException();
    }

    private static async Task AssertEchoesAsync(Socket client, byte value)
    {
        await client.SendAllAsync(new[] { value });
        Assert.That(await client.ReadExactlyAsync(1).DefaultTimeout(), Is.EqualTo(new[] { value }));
    }
}
