using GitHubActionsPort.Broker.Admin;
using GitHubActionsPort.Broker.Audit;
using GitHubActionsPort.Broker.Auth;
using GitHubActionsPort.Broker.Configuration;
using GitHubActionsPort.Broker.Connections;
using GitHubActionsPort.Broker.Draining;
using GitHubActionsPort.Protocol;
using GitHubActionsPort.Broker.Leases;
using Lease = GitHubActionsPort.Broker.Leases.Lease;
using GitHubActionsPort.Broker.Policy;
using GitHubActionsPort.Broker.RawLane;
using GitHubActionsPort.Broker.Store;
using GitHubActionsPort.Broker.Telemetry;
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
    TunnelGate gate,
    DataLanes lanes,
    SessionBlocks blocks,
    SessionFailureLimiter failures,
    AuditTrail audit,
    TimeProvider time,
    BrokerDrain drain,
    ILogger<BrokerService> logger) : Protocol.V1.Broker.BrokerBase
{
    public override async Task<OpenSessionResponse> OpenSession(OpenSessionRequest request, ServerCallContext context)
    {
        RefuseIfDraining(BrokerDraining.SessionDetail);
        var targets = ReadTargets(request);
        TimeSpan? ttl = request.Ttl is null ? null : ReadTtl(request.Ttl);
        var sessionKey = SessionKey.TryRead(request.SessionPublicKey.Span)
            ?? throw new RpcException(new Status(StatusCode.InvalidArgument, "the session key is missing or is not an ECDSA P-256 public key; this agent is too old for this broker"));

        var caller = await ValidateLimitedAsync(request.IdToken, context).ConfigureAwait(false);
        await RefuseIfBlockedAsync(caller, null, context.CancellationToken).ConfigureAwait(false);
        var decision = policy.Decide(caller, targets, ttl);
        if (!decision.Allowed)
        {
            Log.SessionDenied(logger, caller.Describe(), decision.Reason!);
            BrokerMetrics.SessionDenied();
            await AuditBestEffortAsync(audit.SessionDeniedAsync(caller, targets, decision.Reason!)).ConfigureAwait(false);
            throw new RpcException(new Status(StatusCode.PermissionDenied, decision.Reason!));
        }

        // The rule's cap on the lease's whole life, renewals included: the decision for an unbounded request.
        var maxLifetime = policy.Decide(caller, targets, TimeSpan.MaxValue).Ttl;
        var (lease, token) = await leases.GrantAsync(
            caller, targets, decision.Ttl, maxLifetime, decision.MaxConnections, sessionKey, request.SessionPublicKey.ToByteArray(), context.CancellationToken).ConfigureAwait(false);
        // A block placed between the check above and the grant did not see this lease in its sweep: check again.
        try
        {
            await RefuseIfBlockedAsync(caller, lease.Id, context.CancellationToken, current: true).ConfigureAwait(false);
        }
        catch (RpcException ex)
        {
            // Blocked, or the blocks could not be read: either way the lease is no grant.
            var blocked = ex.StatusCode == StatusCode.PermissionDenied;
            await EndRefusedAsync(
                lease,
                blocked ? "sessions for this job are blocked by an administrator" : "the standing blocks could not be checked",
                blocked ? LeaseEndKind.Blocked : LeaseEndKind.Broker).ConfigureAwait(false);
            throw;
        }

        // A grant the audit trail cannot hold is no grant (fail closed): the lease ends before anyone can use it.
        try
        {
            await audit.SessionGrantedAsync(lease, decision.Rules).ConfigureAwait(false);
        }
        catch (AuditWriteException ex)
        {
            await EndRefusedAsync(lease, "the audit trail could not record it", LeaseEndKind.Broker).ConfigureAwait(false);
            throw new RpcException(new Status(StatusCode.Unavailable, "the broker cannot record sessions in its audit trail right now; try again later"), ex.Message);
        }

        BrokerMetrics.SessionGranted();
        ProveConnection(context);
        // The lease is bound to the job that asked: its run and attempt are recorded (and a renewal must match them).
        Log.SessionGranted(logger, lease.Id, caller.Describe(), ClaimOrNone(caller, "run_id"), ClaimOrNone(caller, "run_attempt"), string.Join(',', targets), lease.ExpiresAt, string.Join(',', decision.Rules));
        return Response(lease, token);
    }

    public override async Task<OpenSessionResponse> RenewSession(RenewSessionRequest request, ServerCallContext context)
    {
        var lease = await AuthenticateLeaseAsync(context, nameof(RenewSession), string.Empty).ConfigureAwait(false);
        TimeSpan? ttl = request.Ttl is null ? null : ReadTtl(request.Ttl);
        var caller = await ValidateIdTokenAsync(request.IdToken, context).ConfigureAwait(false);
        if (!IsSameJob(caller, lease.Caller))
        {
            Log.RenewalRefused(logger, lease.Id, "the id-token belongs to another job");
            throw new RpcException(new Status(StatusCode.PermissionDenied, $"lease {lease.Id} was granted to another job; a renewal needs that job's own id-token"));
        }

        await RefuseIfBlockedAsync(caller, lease.Id, context.CancellationToken).ConfigureAwait(false);

        // The identity must still pass the policy now, which may have changed since the grant.
        var decision = policy.Decide(caller, lease.Targets, ttl);
        if (!decision.Allowed)
        {
            Log.RenewalRefused(logger, lease.Id, decision.Reason!);
            throw new RpcException(new Status(StatusCode.PermissionDenied, decision.Reason!));
        }

        var lifetimeEnd = lease.GrantedAt + policy.Decide(caller, lease.Targets, TimeSpan.MaxValue).Ttl;
        var extension = Min(decision.Ttl, lifetimeEnd - time.GetUtcNow());
        if (extension <= TimeSpan.Zero || !await leases.TryExtendAsync(lease, extension, context.CancellationToken).ConfigureAwait(false))
        {
            if (lease.IsEndedForGood)
            {
                throw Refusal(LeaseStore.EndedStatus(lease));
            }

            Log.RenewalRefused(logger, lease.Id, "the lease is at its maximum life");
            throw new RpcException(new Status(StatusCode.FailedPrecondition, $"lease {lease.Id} has reached its maximum life (it ends at {lease.ExpiresAt:u}); open a new session"));
        }

        Log.SessionRenewed(logger, lease.Id, lease.ExpiresAt);
        await AuditBestEffortAsync(audit.LeaseRenewedAsync(lease)).ConfigureAwait(false);
        return Response(lease, leases.Reissue(lease));
    }

    /// <summary>WatchSession calls one lease may hold open at once: an agent holds one; a few allow for a reconnect's overlap.</summary>
    internal const int MaxWatchesPerLease = 4;

    /// <summary>The agent sends nothing on <paramref name="requestStream"/>: it is never read.</summary>
    public override async Task<WatchSessionResponse> WatchSession(IAsyncStreamReader<WatchSessionRequest> requestStream, ServerCallContext context)
    {
        RefuseIfDraining(BrokerDraining.WatchDetail);
        var lease = await AuthenticateLeaseAsync(context, nameof(WatchSession), string.Empty).ConfigureAwait(false);
        if (!lease.TryHoldWatch(MaxWatchesPerLease))
        {
            throw new RpcException(new Status(StatusCode.ResourceExhausted, $"lease {lease.Id} already has {MaxWatchesPerLease} WatchSession calls open"));
        }

        try
        {
            // Held until the lease ends, the agent hangs up, or the broker begins to drain: the agent hears at once that
            // this instance is going (and a graceful stop does not wait on the call).
            using var watching = CancellationTokenSource.CreateLinkedTokenSource(lease.Ended, context.CancellationToken, drain.Draining);
            try
            {
                await Task.Delay(Timeout.InfiniteTimeSpan, time, watching.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // One of the three; which one is asked below.
            }
        }
        finally
        {
            lease.ReleaseWatch();
        }

        if (!lease.IsEnded)
        {
            throw context.CancellationToken.IsCancellationRequested ? new RpcException(Status.DefaultCancelled) : BrokerDraining.Refusal(BrokerDraining.WatchDetail);
        }

        if (lease.IsEndedForGood)
        {
            throw Refusal(LeaseStore.EndedStatus(lease));
        }

        return lease.EndReason is null
            ? new WatchSessionResponse { Ended = "expired", Reason = $"lease {lease.Id} expired at {lease.ExpiresAt:u}" }
            : new WatchSessionResponse { Ended = lease.EndKind == LeaseEndKind.Closed ? "closed" : "stopping", Reason = $"lease {lease.Id} ended: {lease.EndReason}" };
    }

    public override async Task<CloseSessionResponse> CloseSession(CloseSessionRequest request, ServerCallContext context)
    {
        var lease = await AuthenticateLeaseAsync(context, nameof(CloseSession), string.Empty).ConfigureAwait(false);
        try
        {
            await leases.EndAsync(lease, "closed by the agent", LeaseEndKind.Closed, context.CancellationToken).ConfigureAwait(false);
        }
        catch (StoreUnavailableException ex)
        {
            // Ended here all the same; the agent hears that other instances may not have.
            throw StoreRefusal.Exception(ex);
        }

        Log.SessionClosed(logger, lease.Id);
        return new CloseSessionResponse();
    }

    /// <summary>
    /// Sends the caller to another instance while this one drains. Renewals and closes are still answered: an agent
    /// whose tunnels run on here must keep its lease alive until they finish, and with a shared store the renewed
    /// lease is good on every instance anyway.
    /// </summary>
    private void RefuseIfDraining(string detail)
    {
        if (drain.IsDraining)
        {
            throw BrokerDraining.Refusal(detail);
        }
    }

    /// <summary>
    /// Ends a lease granted a moment ago and refused after all (blocked meanwhile, or not audited); the refusal stands
    /// whether or not the store heard, and the lease ends here either way.
    /// </summary>
    private async Task EndRefusedAsync(Lease lease, string reason, LeaseEndKind kind)
    {
        try
        {
            await leases.EndAsync(lease, reason, kind).ConfigureAwait(false);
        }
        catch (StoreUnavailableException)
        {
            // LeaseStore logged it; the lease ended here, and nobody holds its token.
        }
    }

    /// <summary>
    /// Refuses a caller an administrator has blocked (<c>ghaport-broker sessions revoke --block</c>). With
    /// <c>current</c>, against the store as it is now, not this instance's copy: the check after a grant (see
    /// <see cref="SessionBlocks.MatchCurrentAsync"/>).
    /// </summary>
    private async Task RefuseIfBlockedAsync(CallerIdentity caller, string? leaseId, CancellationToken cancellationToken, bool current = false)
    {
        SessionBlock? block;
        try
        {
            block = current
                ? await blocks.MatchCurrentAsync(caller, cancellationToken).ConfigureAwait(false)
                : await blocks.MatchAsync(caller, cancellationToken).ConfigureAwait(false);
        }
        catch (StoreUnavailableException ex)
        {
            // Fail closed: blocks that could not be read are not "no block".
            throw StoreUnavailable("check the standing blocks", ex);
        }

        if (block is null)
        {
            return;
        }

        Log.SessionBlocked(logger, leaseId ?? "(new session)", caller.Describe(), block.Id);
        // A revocation's own block says which lease's revocation keeps this run attempt out.
        throw new RpcException(new Status(StatusCode.PermissionDenied, block.RevokedLease is null
            ? "sessions for this job are blocked by an administrator"
            : $"sessions for this job are blocked by an administrator: {block.Reason}"));
    }

    /// <summary>
    /// <see cref="ValidateIdTokenAsync"/> within the caller's address's allowance of rejected tokens: past it the call
    /// is refused before the token is read, so a flood of bad tokens costs a lookup each, not a signature check.
    /// </summary>
    private async Task<CallerIdentity> ValidateLimitedAsync(string idToken, ServerCallContext context)
    {
        var address = context.GetHttpContext().Connection.RemoteIpAddress;
        if (!failures.TryTake(address, out var retryAfter))
        {
            Log.SessionRateLimited(logger, context.Peer, retryAfter);
            BrokerMetrics.SessionRateLimited();
            throw new RpcException(new Status(StatusCode.ResourceExhausted, $"too many rejected id-tokens from this address; retry after {retryAfter.TotalSeconds:0} s"));
        }

        try
        {
            var caller = await ValidateIdTokenAsync(idToken, context).ConfigureAwait(false);
            failures.Return(address);
            return caller;
        }
        catch (RpcException ex) when (ex.StatusCode != StatusCode.Unauthenticated)
        {
            // Only a rejected token keeps its attempt: the issuer being down is no fault of the caller's.
            failures.Return(address);
            throw;
        }
        catch (Exception ex) when (ex is not RpcException)
        {
            failures.Return(address);
            throw;
        }
    }

    /// <summary>
    /// Marks the call's connection as one of ours: an agent's, past its session or lease check, which the connection
    /// guard then never closes to make room.
    /// </summary>
    private static void ProveConnection(ServerCallContext context) =>
        context.GetHttpContext().Features.Get<GuardedConnection>()?.Prove();

    /// <summary>Checks an id-token, turning each way it can fail into the status the job can act on.</summary>
    private async Task<CallerIdentity> ValidateIdTokenAsync(string idToken, ServerCallContext context)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken);
        deadline.CancelAfter(settings.Transport.SessionTimeout);
        try
        {
            return await tokens.ValidateAsync(idToken, deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, "the broker could not check the id-token in time; try again"));
        }
        catch (TokenRejectedException ex)
        {
            Log.TokenRejected(logger, context.Peer, ex.Message);
            BrokerMetrics.SessionRejected();
            await AuditBestEffortAsync(audit.TokenRejectedAsync(context.Peer, ex.Reason, ex.Claimed)).ConfigureAwait(false);
            throw new RpcException(new Status(StatusCode.Unauthenticated, "id-token rejected: " + ex.Message));
        }
        catch (IssuerUnavailableException ex)
        {
            Log.IssuerUnavailable(logger, ex.Message, ex);
            throw new RpcException(new Status(StatusCode.Unavailable, "the broker cannot check id-tokens right now: its issuer's signing keys are unavailable"));
        }
        catch (StoreUnavailableException ex)
        {
            // The token may be fine: only its single use could not be recorded, so it is not refused as a bad token.
            throw StoreUnavailable("record the id-token's single use", ex);
        }
    }

    /// <summary>A call refused because the state store could not be reached (fail closed), with the cause.</summary>
    private RpcException StoreUnavailable(string what, StoreUnavailableException ex)
    {
        Log.StoreUnavailable(logger, what, StoreRefusal.Cause(ex));
        return StoreRefusal.Exception(ex);
    }

    /// <summary>The live lease a lease-bearing call stands for, proven by the session key; else Unauthenticated.</summary>
    private async Task<Lease> AuthenticateLeaseAsync(ServerCallContext context, string method, string target)
    {
        var authorization = context.RequestHeaders.GetValue("authorization");
        var prefix = WireLimits.LeaseScheme + " ";
        var token = authorization is not null && authorization.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) ? authorization[prefix.Length..].Trim() : null;
        var (lease, failure, endedForGood) = await leases.AuthenticateAsync(token, context.RequestHeaders.GetValue(LeaseProof.Header), method, target).ConfigureAwait(false);
        if (endedForGood is not null)
        {
            Log.LeaseRejected(logger, context.Peer, method, failure!);
            throw Refusal(LeaseStore.EndedStatus(endedForGood));
        }

        if (lease is null)
        {
            Log.LeaseRejected(logger, context.Peer, method, failure!);
            throw new RpcException(new Status(StatusCode.Unauthenticated, failure!));
        }

        ProveConnection(context);
        return lease;
    }

    /// <summary>A refusal as an exception; a lease ended for good also names its kind in a trailer (see <see cref="LeaseEnded"/>).</summary>
    internal static RpcException Refusal(Status status) =>
        LeaseEnded.TryRead(status, out var kind) ? new RpcException(status, [new Metadata.Entry(LeaseEnded.Trailer, kind)]) : new RpcException(status);

    /// <summary>The same workflow run (and attempt) of the same subject: a renewal cannot move a lease to another job.</summary>
    private static bool IsSameJob(CallerIdentity renewing, CallerIdentity granted) =>
        renewing.Issuer == granted.Issuer
        && renewing.Subject == granted.Subject
        && SameOptionalClaim(renewing, granted, "run_id")
        && SameOptionalClaim(renewing, granted, "run_attempt");

    private static bool SameOptionalClaim(CallerIdentity a, CallerIdentity b, string claim) =>
        a.Claims.GetValueOrDefault(claim) == b.Claims.GetValueOrDefault(claim);

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    /// <summary>
    /// Records what was refused or changed anyway: a refusal stands whether or not it is recorded, and the failure to
    /// record it is logged (the trail's own error says why).
    /// </summary>
    private async Task AuditBestEffortAsync(Task write)
    {
        try
        {
            await write.ConfigureAwait(false);
        }
        catch (AuditWriteException ex)
        {
            Log.AuditSkipped(logger, ex.Message);
        }
    }

    private static string ClaimOrNone(CallerIdentity caller, string claim) =>
        caller.Claims.TryGetValue(claim, out var value) ? AuditText.Clean(value) : "(none)";

    private OpenSessionResponse Response(Lease lease, string token) => Response(lease, token, time.GetUtcNow(), lanes);

    private static OpenSessionResponse Response(Lease lease, string token, DateTimeOffset now, DataLanes lanes) => new()
    {
        Lease = new Protocol.V1.Lease
        {
            LeaseId = lease.Id,
            Token = token,
            Targets = { lease.Targets.Order(StringComparer.Ordinal) },
            ExpiresAt = Timestamp.FromDateTimeOffset(lease.ExpiresAt),
            MaxExpiresAt = Timestamp.FromDateTimeOffset(lease.MaxExpiresAt),
            MaxConnections = lease.MaxConnections,
            // Time left, not a point in time: the agent's timer must not depend on its clock agreeing with ours.
            Ttl = Duration.FromTimeSpan(lease.ExpiresAt - now),
            RawLanePort = (uint)lanes.RawPort,
            GrpcLaneOff = !lanes.GrpcEnabled,
        },
    };

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
