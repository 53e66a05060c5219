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
                // Before the codes a broker sends: the gRPC client maps a plain HTTP 401 or 403 to them too.
                _ when NotGrpc(ex) is { } answer => new AgentException(ExitCodes.BrokerUnreachable, $"{broker?.ToString() ?? "the URL"} is not a ghaport broker ({answer} from {OpenSessionPath})", ex),
                _ when NotTls(ex) => new AgentException(ExitCodes.BrokerUnreachable, $"cannot reach {where}: it does not speak TLS (it answered the TLS handshake with something else); for a plain broker use {PlainUrl(broker)}", ex),
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

    /// <summary>Grpc.Net.Client's words for an HTTP answer that is not gRPC (no grpc-status, not application/grpc).</summary>
    private const string NotGrpcPrefix = "Bad gRPC response. ";

    private static readonly string OpenSessionPath = $"POST /{Broker.Descriptor.FullName}/OpenSession";

    /// <summary>The TLS handshake's failure, when the broker's certificate is why the call failed.</summary>
    private static AuthenticationException? UntrustedCertificate(RpcException ex) =>
        HandshakeFailure(ex) is { } tls && tls.Message.Contains("certificate", StringComparison.OrdinalIgnoreCase) ? tls : null;

    /// <summary>
    /// The server answered the TLS client hello with bytes that are no TLS record: a plain (h2c) broker, or any other
    /// plain server, at an https:// URL.
    /// </summary>
    private static bool NotTls(RpcException ex) =>
        HandshakeFailure(ex) is { } tls && !tls.Message.Contains("certificate", StringComparison.OrdinalIgnoreCase)
            && tls.Message.Contains("frame", StringComparison.OrdinalIgnoreCase);

    private static AuthenticationException? HandshakeFailure(RpcException ex)
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

    /// <summary>
    /// What the server answered instead of gRPC ("HTTP 404", or the gRPC client's reason such as a content-type), when
    /// the call reached an HTTP server that is no gRPC service at all; null for an answer in gRPC's own terms.
    /// </summary>
    private static string? NotGrpc(RpcException ex)
    {
        var detail = ex.Status.Detail;
        if (detail is null || !detail.StartsWith(NotGrpcPrefix, StringComparison.Ordinal))
        {
            return null;
        }

        var reason = detail[NotGrpcPrefix.Length..].TrimEnd('.');
        const string StatusPrefix = "HTTP status code: ";
        return reason.StartsWith(StatusPrefix, StringComparison.Ordinal) ? "HTTP " + reason[StatusPrefix.Length..] : reason;
    }

    private static string PlainUrl(Uri? broker) =>
        broker is null ? "an http:// URL" : new UriBuilder(broker) { Scheme = Uri.UriSchemeHttp, Port = broker.Port }.Uri.ToString();

    private static string Detail(RpcException ex) => string.IsNullOrEmpty(ex.Status.Detail) ? ex.StatusCode.ToString() : ex.Status.Detail;
}
