using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using GitHubActionsPort.Agent.Cli;
using GitHubActionsPort.Broker.Configuration;
using GitHubActionsPort.Broker.DevIssuer;

namespace GitHubActionsPort.Tests;

/// <summary>
/// A broker serving TLS with a certificate from a private CA: the agent trusts it through <c>--ca-cert</c> and
/// refuses it without; old protocol versions are refused; a renewed certificate reaches new connections while
/// live tunnels carry on.
/// </summary>
public sealed class TlsTests
{
    private static readonly Uri HttpsAnyPort = new("https://127.0.0.1:0");

    private DevIssuer _issuer = null!;
    private TcpTestServer _echo = null!;
    private string _folder = null!;
    private X509Certificate2 _ca = null!;
    private string _caPath = null!;
    private string _certificatePath = null!;
    private string _keyPath = null!;
    private BrokerUnderTest? _broker;

    [SetUp]
    public async Task StartAsync()
    {
        _issuer = await DevIssuer.StartAsync().DefaultTimeout();
        _echo = TcpTestServer.Echo();
        _folder = Directory.CreateTempSubdirectory("ghaport-tls-").FullName;
        _ca = TestCertificates.CreateCa("ghaport test CA");
        _caPath = Path.Combine(_folder, "ca.pem");
        await File.WriteAllTextAsync(_caPath, _ca.ExportCertificatePem());
        _certificatePath = Path.Combine(_folder, "broker.crt");
        _keyPath = Path.Combine(_folder, "broker.key");
        await WriteServerFilesAsync(TestCertificates.IssueServerCertificate(_ca));
    }

    [TearDown]
    public async Task StopAsync()
    {
        if (_broker is not null)
        {
            await _broker.DisposeAsync();
            _broker = null;
        }

        await _echo.DisposeAsync();
        await _issuer.DisposeAsync();
        _ca.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    [Test]
    public async Task AgentWithCaCert_TunnelEchoes()
    {
        var broker = await StartBrokerAsync();
        Assert.That(broker.Address.Scheme, Is.EqualTo("https"));

        await using var agent = await StartAgentAsync(broker.Address, ["--ca-cert", _caPath]);
        using var socket = await SocketIo.ConnectAsync(agent["echo"]);
        await AssertEchoesAsync(socket);
        Assert.That(broker.Logs.Errors, Is.Empty);
    }

    [Test]
    public async Task HalfDoneHandshakes_MoreThanTheCap_AgentStillServed_AndEachIsClosedAtItsDeadline()
    {
        var configuration = Configuration();
        configuration["Broker:Transport:MaxConnections"] = "32";
        configuration["Broker:Transport:MaxUnprovenPerSource"] = "16";
        configuration["Broker:Transport:ProveTimeout"] = "00:00:03";
        _broker = await BrokerUnderTest.StartAsync(configuration, TestContext.Progress, HttpsAnyPort);
        // A TLS record header announcing a ClientHello that never comes: the handshake waits on the peer.
        byte[] halfHello = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01];
        using var flood = new Faults.SilentSockets();
        var held = new List<Socket>();
        for (var source = 2; source < 6; source++)
        {
            held.AddRange(await flood.OpenAsync(_broker.Address, Faults.SilentSockets.Source(source), 16, halfHello));
            held.AddRange(await flood.OpenAsync(_broker.RawLaneAddress!, Faults.SilentSockets.Source(source), 4, halfHello));
        }

        await using (var agent = await StartAgentAsync(_broker.Address, ["--ca-cert", _caPath]))
        {
            using var socket = await SocketIo.ConnectAsync(agent["echo"]);
            await AssertEchoesAsync(socket);
        }

        foreach (var half in held)
        {
            await half.ReadUntilClosedAsync().DefaultTimeout();
        }

        Assert.That(_broker.Logs.Entries.Where(e => e.EventId.Name is "ConnectionEvicted" or "ConnectionProveTimedOut"), Is.Not.Empty);
        Assert.That(_broker.Logs.Errors, Is.Empty);
    }

    [Test]
    public async Task AgentWithCaCert_ByHostName_TunnelEchoes()
    {
        var broker = await StartBrokerAsync();
        var byName = new UriBuilder(broker.Address) { Host = "localhost" }.Uri;

        await using var agent = await StartAgentAsync(byName, ["--ca-cert", _caPath]);
        using var socket = await SocketIo.ConnectAsync(agent["echo"]);
        await AssertEchoesAsync(socket);
    }

    [Test]
    public async Task AgentWithoutCaCert_ExitsUnreachable_NamingTheCertificate()
    {
        var broker = await StartBrokerAsync();

        await using var agent = AgentUnderTest.Run(broker.Address, ["0:echo"], AgentUnderTest.GitHubEnvironment(_issuer), echo: TestContext.Progress);

        Assert.That(await agent.Exit.DefaultTimeout(), Is.EqualTo(ExitCodes.BrokerUnreachable));
        var error = string.Join(Environment.NewLine, agent.Error.Lines);
        Assert.That(error, Does.Contain("TLS certificate is not trusted").And.Contain("--ca-cert"));
        Assert.That(agent.Error.Lines, Has.Count.EqualTo(1), "one line of cause");
    }

    [Test]
    public async Task AgentWithAnotherCa_ExitsUnreachable()
    {
        var broker = await StartBrokerAsync();
        using var other = TestCertificates.CreateCa("some other CA");
        var otherPath = Path.Combine(_folder, "other-ca.pem");
        await File.WriteAllTextAsync(otherPath, other.ExportCertificatePem());

        await using var agent = AgentUnderTest.Run(broker.Address, ["0:echo"], AgentUnderTest.GitHubEnvironment(_issuer), extraArgs: ["--ca-cert", otherPath], echo: TestContext.Progress);

        Assert.That(await agent.Exit.DefaultTimeout(), Is.EqualTo(ExitCodes.BrokerUnreachable));
        Assert.That(string.Join(Environment.NewLine, agent.Error.Lines), Does.Contain("TLS certificate is not trusted"));
    }

    [Test]
    public async Task Tls11Client_IsRefused()
    {
        var broker = await StartBrokerAsync();
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, broker.Address.Port).DefaultTimeout();
        await using var tls = new SslStream(tcp.GetStream());
#pragma warning disable SYSLIB0039, CA5397 // An obsolete protocol on purpose: the broker must refuse it.
        var options = ClientOptions(SslProtocols.Tls11);
#pragma warning restore SYSLIB0039, CA5397

        Assert.That(async () => await tls.AuthenticateAsClientAsync(options).DefaultTimeout(), Throws.InstanceOf<AuthenticationException>().Or.InstanceOf<IOException>());
    }

    [Test]
    public async Task Handshake_NegotiatesTls12OrLater_AndH2()
    {
        var broker = await StartBrokerAsync();
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, broker.Address.Port).DefaultTimeout();
        await using var tls = new SslStream(tcp.GetStream());

        await tls.AuthenticateAsClientAsync(ClientOptions(SslProtocols.None)).DefaultTimeout();

        Assert.That(tls.SslProtocol, Is.EqualTo(SslProtocols.Tls12).Or.EqualTo(SslProtocols.Tls13));
        Assert.That(tls.NegotiatedApplicationProtocol, Is.EqualTo(SslApplicationProtocol.Http2));
    }

    [Test]
    public async Task RenewedCertificate_ServesNewConnections_WhileLiveTunnelCarriesOn()
    {
        var broker = await StartBrokerAsync();
        await using var agent = await StartAgentAsync(broker.Address, ["--ca-cert", _caPath]);
        using var live = await SocketIo.ConnectAsync(agent["echo"]);
        await AssertEchoesAsync(live);
        var before = await ServedThumbprintAsync(broker);

        using var renewed = TestCertificates.IssueServerCertificate(_ca);
        await WriteServerFilesAsync(renewed);
        await broker.Logs.WaitForAsync(e => e.EventId.Name == "CertificateReloaded" && e.Message.Contains(renewed.Thumbprint, StringComparison.Ordinal)).DefaultTimeout();

        Assert.That(await ServedThumbprintAsync(broker), Is.EqualTo(renewed.Thumbprint).And.Not.EqualTo(before));
        await AssertEchoesAsync(live);
        using var another = await SocketIo.ConnectAsync(agent["echo"]);
        await AssertEchoesAsync(another);
        Assert.That(broker.Logs.Errors, Is.Empty);
    }

    [Test]
    public async Task RawLane_OverTls_Echoes_AndHalfClosesBothWays()
    {
        // A target that answers only once the client has finished, then goes on reading after it has finished itself.
        var afterward = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var target = new TcpTestServer(async (socket, ct) =>
        {
            var request = await socket.ReadToEndAsync(ct);
            await socket.SendAllAsync(System.Text.Encoding.ASCII.GetBytes($"got {request.Length}"));
            socket.Shutdown(SocketShutdown.Send);
            afterward.TrySetResult(await socket.ReadToEndAsync(ct));
        });
        var configuration = Configuration();
        configuration["Broker:Targets:halves"] = target.Address;
        configuration["Broker:Rules:0:Targets:1"] = "halves";
        _broker = await BrokerUnderTest.StartAsync(configuration, TestContext.Progress, HttpsAnyPort);
        Assert.That(_broker.RawLaneAddress!.Scheme, Is.EqualTo("https"));

        await using var agent = await AgentUnderTest.StartAsync(_broker.Address, ["0:halves"], AgentUnderTest.GitHubEnvironment(_issuer), extraArgs: ["--ca-cert", _caPath, "--lane", "raw"], echo: TestContext.Progress);
        using var client = await SocketIo.ConnectAsync(agent["halves"]);
        var request = SocketIo.RandomBytes(300 * 1024);
        await client.SendAllAsync(request);
        client.Shutdown(SocketShutdown.Send);

        Assert.That(System.Text.Encoding.ASCII.GetString(await client.ReadToEndAsync().DefaultTimeout()), Is.EqualTo($"got {request.Length}"));
        // Both sides have now half-closed, each in turn: the target's read must still see a clean end, not a reset.
        Assert.That(await afterward.Task.DefaultTimeout(), Is.Empty);
        Assert.That((await agent.Logs.WaitForAsync(e => e.EventId.Name == "TunnelClosed").DefaultTimeout()).Message, Does.Contain($"{request.Length} bytes sent"));
        Assert.That(agent.Logs.Entries.Single(e => e.EventId.Name == "TunnelOpened").Message, Does.Contain("(raw lane)"));
        Assert.That(_broker.Logs.Errors, Is.Empty);
    }

    [Test]
    public async Task RawLane_TlsClientNotAskingForTheLane_GetsNoSession()
    {
        var broker = await StartBrokerAsync();
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, broker.RawLaneAddress!.Port).DefaultTimeout();
        await using var tls = new SslStream(tcp.GetStream());

        // Offering h2 only: either the handshake fails, or it settles on no protocol and the broker hangs up at once.
        try
        {
            await tls.AuthenticateAsClientAsync(ClientOptions(SslProtocols.None)).DefaultTimeout();
            Assert.That(tls.NegotiatedApplicationProtocol, Is.Not.EqualTo(SslApplicationProtocol.Http2));
            Assert.That(await tls.ReadAsync(new byte[16]).AsTask().DefaultTimeout(), Is.Zero, "the broker must close a connection that did not ask for its lane");
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException)
        {
            // Refused in the handshake: as good.
        }

        Assert.That(broker.Logs.Entries.Any(e => e.EventId.Name == "RawLaneAuthenticated"), Is.False);
    }

    [Test]
    public async Task RawLane_RenewedCertificate_ReachesNewRawConnections()
    {
        var broker = await StartBrokerAsync();
        using var renewed = TestCertificates.IssueServerCertificate(_ca);
        await WriteServerFilesAsync(renewed);
        await broker.Logs.WaitForAsync(e => e.EventId.Name == "CertificateReloaded" && e.Message.Contains(renewed.Thumbprint, StringComparison.Ordinal)).DefaultTimeout();

        Assert.That(await ServedThumbprintAsync(broker.RawLaneAddress!.Port, new SslApplicationProtocol(Protocol.RawLane.RawLaneFrame.ApplicationProtocol)), Is.EqualTo(renewed.Thumbprint));
    }

    [Test]
    public async Task RenewedCertificateWithWrongKey_KeepsTheOldOne_AndLogsWhy()
    {
        var broker = await StartBrokerAsync();
        var before = await ServedThumbprintAsync(broker);

        // A new certificate beside the old key: the pair does not match.
        using var renewed = TestCertificates.IssueServerCertificate(_ca);
        await ReplaceFileAsync(_certificatePath, renewed.ExportCertificatePem());
        var failure = await broker.Logs.WaitForAsync(e => e.EventId.Name == "CertificateReloadFailed").DefaultTimeout();

        Assert.That(failure.Message, Does.Contain("Broker:Tls:KeyPath").And.Contain(before));
        Assert.That(await ServedThumbprintAsync(broker), Is.EqualTo(before));
    }

    [Test]
    public void MissingKeyFile_StopsStartUp_NamingTheKey()
    {
        File.Delete(_keyPath);

        var error = Assert.ThrowsAsync<BrokerConfigurationException>(() => StartBrokerAsync());

        Assert.That(error!.Message, Does.Contain("Broker:Tls:KeyPath").And.Contain(_keyPath));
    }

    [Test]
    public async Task KeyOfAnotherCertificate_StopsStartUp_NamingTheKey()
    {
        using var other = TestCertificates.IssueServerCertificate(_ca);
        await ReplaceFileAsync(_certificatePath, other.ExportCertificatePem());

        var error = Assert.ThrowsAsync<BrokerConfigurationException>(() => StartBrokerAsync());

        Assert.That(error!.Message, Does.Contain("Broker:Tls:KeyPath"));
    }

    [Test]
    public async Task CertificateFileNotPem_StopsStartUp_NamingTheKey()
    {
        await File.WriteAllTextAsync(_certificatePath, "not a certificate");

        var error = Assert.ThrowsAsync<BrokerConfigurationException>(() => StartBrokerAsync());

        Assert.That(error!.Message, Does.Contain("Broker:Tls:CertificatePath"));
    }

    [Test]
    public void CertificateWithoutKey_StopsStartUp_NamingTheMissingKey()
    {
        var configuration = Configuration();
        configuration.Remove("Broker:Tls:KeyPath");

        var error = Assert.ThrowsAsync<BrokerConfigurationException>(() => BrokerUnderTest.StartAsync(configuration, TestContext.Progress, HttpsAnyPort));

        Assert.That(error!.Message, Does.Contain("Broker:Tls:KeyPath"));
    }

    [Test]
    public void HttpsUrlWithoutCertificate_StopsStartUp_NamingTheTlsKeys()
    {
        var configuration = Configuration();
        configuration.Remove("Broker:Tls:CertificatePath");
        configuration.Remove("Broker:Tls:KeyPath");

        var error = Assert.ThrowsAsync<BrokerConfigurationException>(() => BrokerUnderTest.StartAsync(configuration, TestContext.Progress, HttpsAnyPort));

        Assert.That(error!.Message, Does.Contain("Broker:Tls:CertificatePath"));
    }

    [Test]
    public async Task PfxCertificate_Serves()
    {
        using var certificate = TestCertificates.IssueServerCertificate(_ca);
        var pfxPath = Path.Combine(_folder, "broker.pfx");
        await File.WriteAllBytesAsync(pfxPath, certificate.Export(X509ContentType.Pkcs12, "secret"));
        var configuration = Configuration();
        configuration.Remove("Broker:Tls:CertificatePath");
        configuration.Remove("Broker:Tls:KeyPath");
        configuration["Broker:Tls:PfxPath"] = pfxPath;
        configuration["Broker:Tls:PfxPassword"] = "secret";
        _broker = await BrokerUnderTest.StartAsync(configuration, TestContext.Progress, HttpsAnyPort);

        Assert.That(await ServedThumbprintAsync(_broker), Is.EqualTo(certificate.Thumbprint));
    }

    [Test]
    public void CaCertWithHttpBroker_IsAUsageError()
    {
        Assert.That(
            () => UpArguments.Parse(["--broker", "http://127.0.0.1:8470", "--forward", "5432:db", "--ca-cert", _caPath]),
            Throws.ArgumentException.With.Message.Contains("--ca-cert"));
    }

    [Test]
    public async Task CaCertFileWithoutCertificate_IsAUsageError()
    {
        var empty = Path.Combine(_folder, "empty.pem");
        await File.WriteAllTextAsync(empty, "nothing here");

        Assert.That(
            () => UpArguments.Parse(["--broker", "https://broker.internal:8470", "--forward", "5432:db", "--ca-cert", empty]),
            Throws.ArgumentException.With.Message.Contains(empty));
    }

    private Dictionary<string, string?> Configuration()
    {
        var configuration = BrokerUnderTest.DefaultConfiguration(_issuer.Issuer, new Dictionary<string, string> { ["echo"] = _echo.Address });
        configuration["Broker:Tls:CertificatePath"] = _certificatePath;
        configuration["Broker:Tls:KeyPath"] = _keyPath;
        return configuration;
    }

    private async Task<BrokerUnderTest> StartBrokerAsync()
    {
        _broker = await BrokerUnderTest.StartAsync(Configuration(), TestContext.Progress, HttpsAnyPort);
        return _broker;
    }

    private Task<AgentUnderTest> StartAgentAsync(Uri broker, IReadOnlyList<string> extraArgs) =>
        AgentUnderTest.StartAsync(broker, ["0:echo"], AgentUnderTest.GitHubEnvironment(_issuer), extraArgs: extraArgs, echo: TestContext.Progress);

    private static async Task AssertEchoesAsync(Socket socket)
    {
        var data = SocketIo.RandomBytes(64 * 1024);
        await socket.SendAllAsync(data).DefaultTimeout();
        var back = await socket.ReadExactlyAsync(data.Length).DefaultTimeout();
        Assert.That(back, Is.EqualTo(data));
    }

    /// <summary>The thumbprint of the certificate a new TLS connection to the broker gets, verified against the CA.</summary>
    private Task<string> ServedThumbprintAsync(BrokerUnderTest broker) => ServedThumbprintAsync(broker.Address.Port, SslApplicationProtocol.Http2);

    private async Task<string> ServedThumbprintAsync(int port, SslApplicationProtocol protocol)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port).DefaultTimeout();
        await using var tls = new SslStream(tcp.GetStream());
        await tls.AuthenticateAsClientAsync(ClientOptions(SslProtocols.None, protocol)).DefaultTimeout();
        return tls.RemoteCertificate!.GetCertHashString();
    }

    private SslClientAuthenticationOptions ClientOptions(SslProtocols protocols, SslApplicationProtocol? protocol = null)
    {
        var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
        policy.CustomTrustStore.Add(_ca);
        return new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            EnabledSslProtocols = protocols,
            ApplicationProtocols = [protocol ?? SslApplicationProtocol.Http2],
            CertificateChainPolicy = policy,
        };
    }

    private async Task WriteServerFilesAsync(X509Certificate2 certificate)
    {
        var (pem, key) = TestCertificates.ToPem(certificate);
        await ReplaceFileAsync(_keyPath, key);
        await ReplaceFileAsync(_certificatePath, pem);
    }

    /// <summary>Writes beside the file and renames over it, as renewal tools do, so no reader sees half a file.</summary>
    private static async Task ReplaceFileAsync(string path, string contents)
    {
        var temporary = path + ".new";
        await File.WriteAllTextAsync(temporary, contents);
        File.Move(temporary, path, overwrite: true);
    }
}
