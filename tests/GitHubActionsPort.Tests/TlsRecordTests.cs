using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using GitHubActionsPort.Broker.DevIssuer;

namespace GitHubActionsPort.Tests;

/// <summary>
/// What the broker sends over TLS, seen on the wire by a relay between agent and broker that reads the plaintext
/// TLS record headers: a bulk download leaves the broker in full-size records, not one record per 4 KiB buffer.
/// </summary>
public sealed class TlsRecordTests
{
    /// <summary>TLS 1.3 and 1.2 record type of application data.</summary>
    private const byte ApplicationData = 23;

    /// <summary>
    /// The record length field of 4 KiB of plaintext with its TLS 1.3 overhead (content type and tag), a little
    /// more under TLS 1.2: the largest record Kestrel's 4 KiB blocks made.
    /// </summary>
    private const int FourKiBRecord = (4 * 1024) + 1 + 16;

    private const int DownloadSize = 8 * 1024 * 1024;

    private DevIssuer _issuer = null!;
    private TcpTestServer _source = null!;
    private string _folder = null!;
    private X509Certificate2 _ca = null!;
    private BrokerUnderTest _broker = null!;
    private RecordRelay _relay = null!;

    [SetUp]
    public async Task StartAsync()
    {
        _issuer = await DevIssuer.StartAsync().DefaultTimeout();
        _source = new TcpTestServer(SendDownloadAsync);
        _folder = Directory.CreateTempSubdirectory("ghaport-tls-records-").FullName;
        _ca = TestCertificates.CreateCa("ghaport record test CA");
        using var certificate = TestCertificates.IssueServerCertificate(_ca);
        var certificatePath = Path.Combine(_folder, "broker.crt");
        var keyPath = Path.Combine(_folder, "broker.key");
        await TestCertificates.WritePemPairAsync(certificate, certificatePath, keyPath);
        var configuration = BrokerUnderTest.DefaultConfiguration(_issuer.Issuer, new Dictionary<string, string> { ["source"] = _source.Address });
        configuration["Broker:Tls:CertificatePath"] = certificatePath;
        configuration["Broker:Tls:KeyPath"] = keyPath;
        _broker = await BrokerUnderTest.StartAsync(configuration, TestContext.Progress, new Uri("https://127.0.0.1:0"));
        _relay = new RecordRelay(_broker.Address.Port);
    }

    [TearDown]
    public async Task StopAsync()
    {
        await _relay.Server.DisposeAsync();
        await _broker.DisposeAsync();
        await _source.DisposeAsync();
        await _issuer.DisposeAsync();
        _ca.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    [Test]
    public async Task BulkDownload_LeavesTheBrokerInRecordsLargerThan4KiB()
    {
        var caPath = Path.Combine(_folder, "ca.pem");
        await File.WriteAllTextAsync(caPath, _ca.ExportCertificatePem());
        var throughRelay = new Uri($"https://127.0.0.1:{_relay.Server.EndPoint.Port}");
        await using var agent = await AgentUnderTest.StartAsync(throughRelay, ["0:source"], AgentUnderTest.GitHubEnvironment(_issuer), extraArgs: ["--ca-cert", caPath, "--lane", "grpc"], echo: TestContext.Progress);

        using var socket = await SocketIo.ConnectAsync(agent["source"]);
        var received = await socket.ReadToEndAsync().DefaultTimeout();

        Assert.That(received, Has.Length.EqualTo(DownloadSize));
        Assert.That(_relay.LargestFromBroker, Is.GreaterThan(FourKiBRecord), "the largest application-data record the broker sent");
        Assert.That(_broker.Logs.Errors, Is.Empty);
    }

    private static async Task SendDownloadAsync(Socket socket, CancellationToken cancellationToken)
    {
        await socket.SendAsync(SocketIo.RandomBytes(DownloadSize), cancellationToken);
        socket.Shutdown(SocketShutdown.Send);
        // Wait for the client's end before closing, so nothing still in flight is lost to a reset.
        while (await socket.ReceiveAsync(new byte[1], cancellationToken) > 0)
        {
        }
    }

    /// <summary>
    /// A TCP relay in front of the broker that copies bytes both ways untouched and reads the 5-byte header of each
    /// TLS record the broker sends (type, version, length), which TLS leaves in the clear.
    /// </summary>
    private sealed class RecordRelay
    {
        private readonly int _brokerPort;
        private int _largestFromBroker;

        public RecordRelay(int brokerPort)
        {
            _brokerPort = brokerPort;
            Server = new TcpTestServer(RelayAsync);
        }

        public TcpTestServer Server { get; }

        /// <summary>The length field of the largest application-data record the broker sent so far.</summary>
        public int LargestFromBroker => Volatile.Read(ref _largestFromBroker);

        private async Task RelayAsync(Socket agent, CancellationToken cancellationToken)
        {
            using var broker = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await broker.ConnectAsync(new IPEndPoint(IPAddress.Loopback, _brokerPort), cancellationToken);
            await Task.WhenAll(
                CopyAsync(agent, broker, null, cancellationToken),
                CopyAsync(broker, agent, new RecordReader(this), cancellationToken));
        }

        private static async Task CopyAsync(Socket from, Socket to, RecordReader? records, CancellationToken cancellationToken)
        {
            var buffer = new byte[64 * 1024];
            int read;
            while ((read = await from.ReceiveAsync(buffer, cancellationToken)) > 0)
            {
                records?.Read(buffer.AsSpan(0, read));
                await to.SendAsync(buffer.AsMemory(0, read), cancellationToken);
            }

            to.Shutdown(SocketShutdown.Send);
        }

        private void Saw(byte type, int length)
        {
            if (type == ApplicationData && length > LargestFromBroker)
            {
                Volatile.Write(ref _largestFromBroker, length);
            }
        }

        /// <summary>Follows record boundaries across reads: header bytes are gathered, bodies skipped.</summary>
        private sealed class RecordReader(RecordRelay relay)
        {
            private readonly byte[] _header = new byte[5];
            private int _headerBytes;
            private int _bodyLeft;

            public void Read(ReadOnlySpan<byte> data)
            {
                while (!data.IsEmpty)
                {
                    if (_bodyLeft > 0)
                    {
                        var skipped = Math.Min(_bodyLeft, data.Length);
                        _bodyLeft -= skipped;
                        data = data[skipped..];
                        continue;
                    }

                    var taken = Math.Min(_header.Length - _headerBytes, data.Length);
                    data[..taken].CopyTo(_header.AsSpan(_headerBytes));
                    _headerBytes += taken;
                    data = data[taken..];
                    if (_headerBytes == _header.Length)
                    {
                        _bodyLeft = BinaryPrimitives.ReadUInt16BigEndian(_header.AsSpan(3));
                        relay.Saw(_header[0], _bodyLeft);
                        _headerBytes = 0;
                    }
                }
            }
        }
    }
}
