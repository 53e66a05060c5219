using System.Security.Cryptography;
using GitHubActionsPort.Protocol;
using GitHubActionsPort.Protocol.V1;
using Grpc.Core;
using BrokerClient = GitHubActionsPort.Protocol.V1.Broker.BrokerClient;

namespace GitHubActionsPort.TestSupport;

/// <summary>
/// A session opened over raw gRPC the way the agent opens one (a session key made in memory, bound to the lease),
/// for tests that need to hold the lease token and proofs in their own hands: replay them, forge them, edit them.
/// </summary>
public sealed class RawSession : IDisposable
{
    private readonly bool _ownsKey;

    private RawSession(BrokerClient client, ECDsa key, Lease lease, bool ownsKey = true)
    {
        Client = client;
        Key = key;
        Lease = lease;
        _ownsKey = ownsKey;
    }

    /// <summary>The same lease and session key, calling through <paramref name="client"/> (another broker instance).</summary>
    public RawSession WithClient(BrokerClient client) => new(client, Key, Lease, ownsKey: false);

    public BrokerClient Client { get; }

    /// <summary>The session key the lease is bound to.</summary>
    public ECDsa Key { get; }

    public Lease Lease { get; private set; }

    public static async Task<RawSession> OpenAsync(BrokerClient client, string idToken, IEnumerable<string> targets, TimeSpan? ttl = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new OpenSessionRequest { IdToken = idToken, SessionPublicKey = Google.Protobuf.ByteString.CopyFrom(key.ExportSubjectPublicKeyInfo()) };
        request.Targets.AddRange(targets);
        if (ttl is { } requested)
        {
            request.Ttl = Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(requested);
        }

        try
        {
            var response = await client.OpenSessionAsync(request).ResponseAsync.DefaultTimeout().ConfigureAwait(false);
            return new RawSession(client, key, response.Lease);
        }
        catch
        {
            key.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Headers of a lease-bearing call. By default the real lease token with a fresh proof by the session key; each
    /// part can be swapped for a forgery.
    /// </summary>
    public Metadata Headers(string method, string target, string? token = null, ECDsa? signWith = null, DateTimeOffset? at = null, string? proof = null)
    {
        var headers = new Metadata
        {
            { "authorization", $"{WireLimits.LeaseScheme} {token ?? Lease.Token}" },
            { LeaseProof.Header, proof ?? LeaseProof.Create(signWith ?? Key, method, Lease.LeaseId, target, at ?? DateTimeOffset.UtcNow) },
        };
        if (method == "Tunnel")
        {
            headers.Add(WireLimits.TargetHeader, target);
        }

        return headers;
    }

    /// <summary>Opens a tunnel call and waits for the broker's answer: null once connected, else the refusal.</summary>
    public async Task<(AsyncDuplexStreamingCall<TunnelFrame, TunnelFrame> Call, RpcException? Refusal)> TunnelAsync(Metadata headers)
    {
        var call = Client.Tunnel(headers);
        try
        {
            var response = await call.ResponseHeadersAsync.DefaultTimeout().ConfigureAwait(false);
            if (response.GetValue(WireLimits.ConnectedHeader) is not null)
            {
                return (call, null);
            }

            await call.ResponseStream.MoveNext().DefaultTimeout().ConfigureAwait(false);
            throw new InvalidOperationException("The broker neither connected nor refused the tunnel.");
        }
        catch (RpcException ex)
        {
            call.Dispose();
            return (call, ex);
        }
    }

    /// <summary>Renews with a fresh id-token, as the agent does before expiry.</summary>
    public async Task<Lease> RenewAsync(string idToken, TimeSpan? ttl = null, Metadata? headers = null)
    {
        var request = new RenewSessionRequest { IdToken = idToken };
        if (ttl is { } requested)
        {
            request.Ttl = Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(requested);
        }

        var response = await Client.RenewSessionAsync(request, headers ?? Headers("RenewSession", string.Empty)).ResponseAsync.DefaultTimeout().ConfigureAwait(false);
        Lease = response.Lease;
        return Lease;
    }

    public void Dispose()
    {
        if (_ownsKey)
        {
            Key.Dispose();
        }
    }
}
