using System.Security.Cryptography;
using Grpc.Net.Client;
using BrokerClient = GitHubActionsPort.Protocol.V1.Broker.BrokerClient;

namespace GitHubActionsPort.Tests;

/// <summary>
/// A <see cref="TunnelFixture"/> with a raw gRPC client of the broker and a session key, for tests that speak the
/// wire protocol themselves: forged tokens, edited leases, refused calls.
/// </summary>
public abstract class BrokerClientFixture(string lane = "auto") : TunnelFixture(lane)
{
    private GrpcChannel _channel = null!;

    protected BrokerClient Client { get; private set; } = null!;

    /// <summary>A session key for requests that need one (every OpenSession does).</summary>
    protected ECDsa SessionKey { get; private set; } = null!;

    [OneTimeSetUp]
    public void CreateClient()
    {
        SessionKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        _channel = GrpcChannel.ForAddress(Broker.Address);
        Client = new BrokerClient(_channel);
    }

    [OneTimeTearDown]
    public void DisposeClient()
    {
        _channel.Dispose();
        SessionKey.Dispose();
    }
}
