using System.Security.Authentication;
using GitHubActionsPort.Agent.Cli;
using GitHubActionsPort.Protocol.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;

namespace GitHubActionsPort.Agent.Forwarding;

/// <summary>Exchanges the id-token for a lease, turning each way it can fail into its exit code and cause.</summary>
internal static class SessionOpener
{
    /// <summary>
    /// Opens a session bound to the session key. <paramref name="broker"/> names the broker in messages; without it
    /// they say "the broker".
    /// </summary>
    public static async Task<Lease> OpenAsync(Broker.BrokerClient client, Uri? broker, string idToken, ReadOnlyMemory<byte> sessionPublicKey, IEnumerable<string> targets, TimeSpan? ttl, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var request = new OpenSessionRequest { IdToken = idToken, SessionPublicKey = Google.Protobuf.ByteString.CopyFrom(sessionPublicKey.Span) };
        request.Targets.AddRange(targets.Distinct(StringComparer.Ordinal));
        if (ttl is { } requested)
        {
            request.Ttl = Duration.FromTimeSpan(requested);
        }

        try
        {
            var response = await client.OpenSessionAsync(request, deadline: DateTime.UtcNow + timeout, cancellationToken: cancellationToken).ConfigureAwait(false);
            return response.Lease ?? throw new AgentException(ExitCodes.Failure, "the broker granted a session without a lease");
        }
        catch (RpcException ex) when (!cancellationToken.IsCancellationRequested)
        {
            var where = broker is null ? "the broker" : $"the broker at {broker}";
            throw ex.StatusCode switch
            {
                StatusCode.Unauthenticated => new AgentException(ExitCodes.TokenRejected, $"the broker rejected the id-token: {Detail(ex)}", ex),
                StatusCode.PermissionDenied => new AgentException(ExitCodes.TargetDenied, $"the broker denied the session: {Detail(ex)}", ex),
                StatusCode.InvalidArgument => new AgentException(ExitCodes.Usage, $"the broker refused the request: {Detail(ex)}", ex),
                _ when UntrustedCertificate(ex) is { } tls => new AgentException(ExitCodes.BrokerUnreachable, $"cannot reach {where}: the broker's TLS certificate is not trusted ({tls.Message}); pass --ca-cert FILE for a private CA", ex),
                StatusCode.DeadlineExceeded => new AgentException(ExitCodes.BrokerUnreachable, $"{where} did not answer within {timeout.TotalSeconds:0} s", ex),
                StatusCode.Unavailable or StatusCode.Unknown or StatusCode.Internal when ex.Status.DebugException is not null =>
                    new AgentException(ExitCodes.BrokerUnreachable, $"cannot reach {where}: {RpcErrors.Innermost(ex.Status.DebugException!).Message}", ex),
                StatusCode.Unavailable => new AgentException(ExitCodes.BrokerUnreachable, $"{where} is unavailable: {Detail(ex)}", ex),
                _ => new AgentException(ExitCodes.Failure, $"opening a session failed: {ex.StatusCode} {Detail(ex)}", ex),
            };
        }
    }

    /// <summary>The TLS handshake's failure, when the broker's certificate is why the call failed.</summary>
    private static AuthenticationException? UntrustedCertificate(RpcException ex)
    {
        for (var cause = ex.Status.DebugException; cause is not null; cause = cause.InnerException)
        {
            if (cause is AuthenticationException tls)
            {
                return tls;
            }
        }

        return null;
    }

    private static string Detail(RpcException ex) => string.IsNullOrEmpty(ex.Status.Detail) ? ex.StatusCode.ToString() : ex.Status.Detail;
}
