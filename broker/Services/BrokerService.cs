using GitHubActionsPort.Broker.Auth;
using GitHubActionsPort.Broker.Configuration;
using GitHubActionsPort.Protocol;
using GitHubActionsPort.Broker.Leases;
using GitHubActionsPort.Broker.Policy;
using GitHubActionsPort.Broker.Tunnels;
using GitHubActionsPort.Protocol.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;

namespace GitHubActionsPort.Broker.Services;

/// <summary>The gRPC face of the broker: sessions (token to lease) and tunnels (lease to target).</summary>
internal sealed partial class BrokerService(
    BrokerSettings settings,
    IdTokenValidator tokens,
    AccessPolicy policy,
    LeaseStore leases,
    TargetDialer dialer,
    TunnelAdmission admission,
    IHostApplicationLifetime lifetime,
    TimeProvider time,
    ILogger<BrokerService> logger) : Protocol.V1.Broker.BrokerBase
{
    public override async Task<OpenSessionResponse> OpenSession(OpenSessionRequest request, ServerCallContext context)
    {
        var peer = context.Peer;
        var targets = ReadTargets(request);
        TimeSpan? ttl = request.Ttl is null ? null : ReadTtl(request.Ttl);

        CallerIdentity caller;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken);
        deadline.CancelAfter(settings.Transport.SessionTimeout);
        try
        {
            caller = await tokens.ValidateAsync(request.IdToken, deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, "the broker could not check the id-token in time; try again"));
        }
        catch (TokenRejectedException ex)
        {
            Log.TokenRejected(logger, peer, ex.Message);
            throw new RpcException(new Status(StatusCode.Unauthenticated, "id-token rejected: " + ex.Message));
        }
        catch (IssuerUnavailableException ex)
        {
            Log.IssuerUnavailable(logger, ex.Message, ex);
            throw new RpcException(new Status(StatusCode.Unavailable, "the broker cannot check id-tokens right now: its issuer's signing keys are unavailable"));
        }

        var decision = policy.Decide(caller, targets, ttl);
        if (!decision.Allowed)
        {
            Log.SessionDenied(logger, caller.Describe(), decision.Reason!);
            throw new RpcException(new Status(StatusCode.PermissionDenied, decision.Reason!));
        }

        var (lease, token) = leases.Grant(caller, targets, decision.Ttl, decision.MaxConnections);
        Log.SessionGranted(logger, lease.Id, caller.Describe(), string.Join(',', targets), lease.ExpiresAt, string.Join(',', decision.Rules));

        return new OpenSessionResponse
        {
            Lease = new Protocol.V1.Lease
            {
                LeaseId = lease.Id,
                Token = token,
                Targets = { lease.Targets.Order(StringComparer.Ordinal) },
                ExpiresAt = Timestamp.FromDateTimeOffset(lease.ExpiresAt),
                MaxConnections = lease.MaxConnections,
                Ttl = Duration.FromTimeSpan(decision.Ttl),
            },
        };
    }

    private static string[] ReadTargets(OpenSessionRequest request)
    {
        if (request.Targets.Count == 0)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "no targets were requested"));
        }

        if (request.Targets.Count > AccessPolicy.MaxTargetsPerSession)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"at most {AccessPolicy.MaxTargetsPerSession} targets may be requested at once"));
        }

        foreach (var name in request.Targets)
        {
            if (!TargetName.IsValid(name))
            {
                throw new RpcException(new Status(StatusCode.InvalidArgument, $"a target name must be {TargetName.Rule}"));
            }
        }

        return request.Targets.Distinct(StringComparer.Ordinal).ToArray();
    }

    private static TimeSpan ReadTtl(Duration requested)
    {
        TimeSpan ttl;
        try
        {
            ttl = requested.ToTimeSpan();
        }
        catch (InvalidOperationException)
        {
            // Not normalized (seconds and nanos of different signs) or beyond TimeSpan's range.
            throw new RpcException(new Status(StatusCode.InvalidArgument, "the requested lease length is not a valid duration"));
        }

        if (ttl <= TimeSpan.Zero)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "the requested lease length must be positive"));
        }

        return ttl;
    }
}
