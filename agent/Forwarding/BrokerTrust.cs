using System.Security.Cryptography.X509Certificates;

namespace GitHubActionsPort.Agent.Forwarding;

/// <summary>How the agent verifies the broker's TLS certificate, on the gRPC channel and on the raw lane alike.</summary>
internal static class BrokerTrust
{
    /// <summary>
    /// Only the given roots (<c>--ca-cert</c>), not the system store as well: a private broker's certificate has no
    /// business chaining to a public CA. A private CA rarely publishes revocation lists, so revocation is not
    /// checked. TLS still checks the host name and the validity dates against this policy. Null: the system store.
    /// </summary>
    public static X509ChainPolicy? ChainPolicy(X509Certificate2Collection? caCertificates)
    {
        if (caCertificates is null)
        {
            return null;
        }

        var policy = new X509ChainPolicy
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust,
            RevocationMode = X509RevocationMode.NoCheck,
        };
        policy.CustomTrustStore.AddRange(caCertificates);
        return policy;
    }
}
