using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using GitHubActionsPort.Broker.Auth;
using GitHubActionsPort.Broker.Leases;
using GitHubActionsPort.Broker.Store;

namespace GitHubActionsPort.Broker.Admin;

/// <summary>
/// The admin endpoint's requests: <c>GET /admin/sessions</c>, <c>POST /admin/revoke</c>, <c>GET /admin/blocks</c>,
/// <c>DELETE /admin/blocks/{id}</c>. Every request, known path or not, must carry the admin credential first. Leases,
/// tunnels, blocks and instances are read from and written to the state store, so any instance answers for every
/// instance; when the store cannot be reached the answer is 503 naming it, never a partial act reported as done.
/// </summary>
internal sealed class AdminApi(
    AdminCredential credential, LeaseStore leases, SessionBlocks blocks, IBrokerStore store, TimeProvider time, ILogger<AdminApi> logger)
{
    /// <summary>Header the CLI names its operator in (user@host): recorded with what they did, never trusted for access.</summary>
    public const string ByHeader = "Ghaport-Admin-By";

    private const string BlocksPrefix = "/admin/blocks/";

    public async Task HandleAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var request = context.Request;
        var peer = $"{context.Connection.RemoteIpAddress}:{context.Connection.RemotePort}";
        if (!IsAuthorized(request, out var why))
        {
            AdminLog.Unauthorized(logger, request.Method, AuditText.Clean(request.Path.Value ?? string.Empty), peer, why);
            context.Response.Headers.WWWAuthenticate = "Bearer";
            await ReplyAsync(context, StatusCodes.Status401Unauthorized, new AdminError("the admin credential is missing or wrong"), AdminJson.Default.AdminError).ConfigureAwait(false);
            return;
        }

        var by = AuditText.Clean(request.Headers[ByHeader].ToString() is { Length: > 0 } named ? named : "an unnamed administrator");
        try
        {
            await DispatchAsync(context, by, peer).ConfigureAwait(false);
        }
        catch (StoreUnavailableException ex) when (!context.Response.HasStarted)
        {
            AdminLog.StoreUnavailable(logger, request.Method, AuditText.Clean(request.Path.Value ?? string.Empty), store.Describe(), StoreRefusal.Cause(ex));
            // A revoke may have ended some leases before the store went away: the operator is told to look, not that it is done.
            var what = request.Method == "GET" ? "nothing could be read" : "the request may be only partly done; check with 'ghaport-broker sessions list' and send it again";
            await ReplyAsync(context, StatusCodes.Status503ServiceUnavailable,
                new AdminError($"the broker's state store ({store.Describe()}) is unreachable ({StoreRefusal.Cause(ex)}); {what}"), AdminJson.Default.AdminError).ConfigureAwait(false);
        }
    }

    private async Task DispatchAsync(HttpContext context, string by, string peer)
    {
        var request = context.Request;
        var path = request.Path.Value ?? string.Empty;
        var cancellationToken = context.RequestAborted;
        switch (request.Method, path)
        {
            case ("GET", "/admin/sessions"):
                var reply = new SessionsReply(
                    await SessionsAsync(cancellationToken).ConfigureAwait(false),
                    await BlocksAsync(cancellationToken).ConfigureAwait(false),
                    (await store.InstancesAsync(cancellationToken).ConfigureAwait(false)).Select(InstanceSummary.Of).ToList());
                await ReplyAsync(context, StatusCodes.Status200OK, reply, AdminJson.Default.SessionsReply).ConfigureAwait(false);
                break;
            case ("GET", "/admin/blocks"):
                await ReplyAsync(context, StatusCodes.Status200OK, await BlocksAsync(cancellationToken).ConfigureAwait(false), AdminJson.Default.IReadOnlyListBlockSummary).ConfigureAwait(false);
                break;
            case ("POST", "/admin/revoke"):
                await RevokeAsync(context, by, peer).ConfigureAwait(false);
                break;
            case ("DELETE", _) when path.StartsWith(BlocksPrefix, StringComparison.Ordinal):
                await UnblockAsync(context, path[BlocksPrefix.Length..], by, peer).ConfigureAwait(false);
                break;
            case (_, "/admin/sessions" or "/admin/blocks" or "/admin/revoke"):
                await ReplyAsync(context, StatusCodes.Status405MethodNotAllowed, new AdminError($"{request.Method} is not allowed on {path}"), AdminJson.Default.AdminError).ConfigureAwait(false);
                break;
            default:
                await ReplyAsync(context, StatusCodes.Status404NotFound, new AdminError("no such admin resource"), AdminJson.Default.AdminError).ConfigureAwait(false);
                break;
        }
    }

    private bool IsAuthorized(HttpRequest request, out string why)
    {
        var authorization = request.Headers.Authorization.ToString();
        const string Prefix = "Bearer ";
        if (!authorization.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase))
        {
            why = "no admin credential";
            return false;
        }

        if (!credential.Matches(authorization[Prefix.Length..].Trim()))
        {
            why = "wrong admin credential";
            return false;
        }

        why = string.Empty;
        return true;
    }

    private async Task RevokeAsync(HttpContext context, string by, string peer)
    {
        RevokeRequest? body;
        try
        {
            body = await JsonSerializer.DeserializeAsync(context.Request.Body, AdminJson.Default.RevokeRequest, context.RequestAborted).ConfigureAwait(false);
        }
        catch (JsonException ex)
        {
            await BadRequestAsync(context, $"the body is not a revoke request: {ex.Message}").ConfigureAwait(false);
            return;
        }

        if (body is null)
        {
            await BadRequestAsync(context, "the body is empty").ConfigureAwait(false);
            return;
        }

        if (body.By is { Length: > 0 } declared)
        {
            by = AuditText.Clean(declared);
        }

        // Not cut short when the operator's client gives up waiting: a revocation is carried through once begun.
        var cancellationToken = CancellationToken.None;
        var reason = body.Reason is { Length: > 0 } given ? AuditText.Clean(given, 200) : null;
        // The lease's end reason reaches the agent, the log and the audit trail: it names who revoked it.
        var endReason = reason is null ? $"revoked by an administrator ({by})" : $"revoked by an administrator ({by}): {reason}";
        var hasClaims = body.Claims is { Count: > 0 };
        if ((body.LeaseId is null) == !hasClaims)
        {
            await BadRequestAsync(context, "name either a lease (leaseId) or claims to match, not both").ConfigureAwait(false);
            return;
        }

        if (body.LeaseId is { } leaseId)
        {
            if (body.Block)
            {
                await BadRequestAsync(context, "a block needs claims to match; a lease id names one lease, not a job").ConfigureAwait(false);
                return;
            }

            // Granted or carried by any instance: the store knows it; ended or expired is no live lease.
            var lease = await FindLiveAsync(leaseId, cancellationToken).ConfigureAwait(false);
            if (lease is null || !await EndAsync(lease, endReason, LeaseEndKind.Revoked, by, peer, reason, cancellationToken).ConfigureAwait(false))
            {
                await ReplyAsync(context, StatusCodes.Status404NotFound, new AdminError($"no live lease '{AuditText.Clean(leaseId)}'"), AdminJson.Default.AdminError).ConfigureAwait(false);
                return;
            }

            var attempt = await BlockAttemptAsync(lease, by, reason, cancellationToken).ConfigureAwait(false);
            await ReplyAsync(context, StatusCodes.Status200OK, new RevokeReply([lease.Id], null, attempt is null ? [] : [BlockSummary.Of(attempt)]), AdminJson.Default.RevokeReply).ConfigureAwait(false);
            return;
        }

        if (!ClaimSelector.TryParse(body.Claims, out var selector, out var error))
        {
            await BadRequestAsync(context, error!).ConfigureAwait(false);
            return;
        }

        // The block goes in before the sweep: a session granted meanwhile is either seen by the sweep or refused
        // by the block (OpenSession checks again after its grant).
        SessionBlock? block = null;
        if (body.Block)
        {
            block = await blocks.AddAsync(selector!, reason ?? "(no reason given)", by, null, cancellationToken).ConfigureAwait(false);
            AdminLog.Blocked(logger, block.Id, selector!.ToString(), by, peer, block.Reason);
        }

        var revoked = new List<string>();
        var attemptBlocks = new List<BlockSummary>();
        foreach (var lease in (await LiveAsync(cancellationToken).ConfigureAwait(false)).Where(l => selector!.Matches(l.Caller)))
        {
            // A lease another revocation (or its agent) ended meanwhile is not this one's to report.
            if (!await EndAsync(lease, endReason, block is null ? LeaseEndKind.Revoked : LeaseEndKind.Blocked, by, peer, reason, cancellationToken).ConfigureAwait(false))
            {
                continue;
            }

            revoked.Add(lease.Id);
            if (await BlockAttemptAsync(lease, by, reason, cancellationToken).ConfigureAwait(false) is { } attempt)
            {
                attemptBlocks.Add(BlockSummary.Of(attempt));
            }
        }

        AdminLog.RevocationMatched(logger, by, peer, selector!.ToString(), revoked.Count);
        await ReplyAsync(context, StatusCodes.Status200OK, new RevokeReply(revoked, block is null ? null : BlockSummary.Of(block), attemptBlocks), AdminJson.Default.RevokeReply).ConfigureAwait(false);
    }

    private async Task UnblockAsync(HttpContext context, string id, string by, string peer)
    {
        var block = await blocks.RemoveAsync(id, context.RequestAborted).ConfigureAwait(false);
        if (block is null)
        {
            await ReplyAsync(context, StatusCodes.Status404NotFound, new AdminError($"no block '{AuditText.Clean(id)}'"), AdminJson.Default.AdminError).ConfigureAwait(false);
            return;
        }

        AdminLog.Unblocked(logger, block.Id, block.Selector.ToString(), by, peer);
        await ReplyAsync(context, StatusCodes.Status200OK, await BlocksAsync(context.RequestAborted).ConfigureAwait(false), AdminJson.Default.IReadOnlyListBlockSummary).ConfigureAwait(false);
    }

    /// <summary>
    /// Ends <paramref name="lease"/> in the store, which tells every instance (the one carrying its tunnels ends them),
    /// then here at once if this instance holds it. False when the lease had already ended (the first end stands).
    /// </summary>
    private async Task<bool> EndAsync(AdminLease lease, string endReason, LeaseEndKind kind, string by, string peer, string? reason, CancellationToken cancellationToken)
    {
        if (lease.Stored)
        {
            var stored = await store.EndLeaseAsync(lease.Id, new LeaseEndRecord(kind, endReason, time.GetUtcNow()), cancellationToken).ConfigureAwait(false);
            if (stored?.End is not { } end || end.Kind != kind || !string.Equals(end.Reason, endReason, StringComparison.Ordinal))
            {
                return false;
            }
        }

        lease.Local?.End(endReason, kind);
        AdminLog.LeaseRevoked(logger, lease.Id, by, peer, reason ?? "(no reason given)", lease.Caller.Describe());
        return true;
    }

    /// <summary>
    /// Every live lease: the store's (granted by any instance), and any this instance holds that the store does not
    /// know, so an operator never sees fewer leases than the instance they ask carries.
    /// </summary>
    private async Task<List<AdminLease>> LiveAsync(CancellationToken cancellationToken)
    {
        var local = leases.Live.ToDictionary(l => l.Id, StringComparer.Ordinal);
        var stored = await store.LiveLeasesAsync(time.GetUtcNow(), cancellationToken).ConfigureAwait(false);
        var live = stored.Select(r => AdminLease.Of(r, local.GetValueOrDefault(r.Id))).ToList();
        var listed = stored.Select(r => r.Id).ToHashSet(StringComparer.Ordinal);
        foreach (var lease in local.Values.Where(l => !listed.Contains(l.Id)))
        {
            // Ended or expired in the store (by another instance, not yet heard here) is not live.
            if (await store.FindLeaseAsync(lease.Id, cancellationToken).ConfigureAwait(false) is null)
            {
                live.Add(AdminLease.Of(lease));
            }
        }

        return live.OrderBy(l => l.GrantedAt).ToList();
    }

    /// <summary>The live lease <paramref name="leaseId"/>, granted by any instance; null when unknown, ended or expired.</summary>
    private async Task<AdminLease?> FindLiveAsync(string leaseId, CancellationToken cancellationToken)
    {
        var local = leases.Live.FirstOrDefault(l => string.Equals(l.Id, leaseId, StringComparison.Ordinal));
        var record = await store.FindLeaseAsync(leaseId, cancellationToken).ConfigureAwait(false);
        if (record is null)
        {
            return local is null ? null : AdminLease.Of(local);
        }

        return record.End is null && record.ExpiresAt > time.GetUtcNow() ? AdminLease.Of(record, local) : null;
    }

    /// <summary>
    /// A revocation ends the job's access, not just one lease: new sessions of the revoked lease's run attempt
    /// (its <c>run_id</c> and <c>run_attempt</c>, and <c>repository</c> where the token has one) are refused until an
    /// operator lifts the block. Null when a block already covers the job, or its token names no run to block.
    /// </summary>
    private async Task<SessionBlock?> BlockAttemptAsync(AdminLease lease, string by, string? reason, CancellationToken cancellationToken)
    {
        if (await blocks.MatchAsync(lease.Caller, cancellationToken).ConfigureAwait(false) is not null)
        {
            return null;
        }

        var claims = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in (string[])["run_id", "run_attempt", "repository"])
        {
            // Taken as exact values: a claim that would read as a pattern is left out rather than widened.
            if (lease.Caller.Claims.TryGetValue(name, out var value) && value.Length > 0 && value.AsSpan().IndexOfAny('*', '?') < 0)
            {
                claims[name] = value;
            }
        }

        if (!claims.ContainsKey("run_id") || !ClaimSelector.TryParse(claims, out var selector, out _))
        {
            AdminLog.AttemptNotBlocked(logger, lease.Id);
            return null;
        }

        var why = $"lease {lease.Id} of this run attempt was revoked by {by} at {time.GetUtcNow():u}" + (reason is null ? string.Empty : $": {reason}");
        var block = await blocks.AddAsync(selector!, why, by, lease.Id, cancellationToken).ConfigureAwait(false);
        AdminLog.AttemptBlocked(logger, block.Id, selector!.ToString(), lease.Id);
        return block;
    }

    private async Task<List<LeaseSummary>> SessionsAsync(CancellationToken cancellationToken)
    {
        var live = await LiveAsync(cancellationToken).ConfigureAwait(false);
        var tunnels = (await store.OpenTunnelsAsync(cancellationToken).ConfigureAwait(false)).ToLookup(t => t.LeaseId, StringComparer.Ordinal);
        return live
            .Select(l => new LeaseSummary(
                l.Id,
                l.Caller.Issuer,
                l.Caller.Subject,
                l.Caller.Claims.ToDictionary(c => c.Key, c => AuditText.Clean(c.Value), StringComparer.Ordinal),
                l.Targets.Order(StringComparer.Ordinal).ToList(),
                l.GrantedAt,
                l.ExpiresAt,
                l.MaxExpiresAt,
                // Every instance's tunnels; never fewer than this instance itself carries.
                Math.Max(tunnels[l.Id].Count(), l.Local?.OpenTunnels ?? 0),
                l.GrantedBy,
                tunnels[l.Id].Select(t => new TunnelSummary(t.Id, t.Target, t.InstanceId, t.OpenedAt)).ToList()))
            .ToList();
    }

    private async Task<List<BlockSummary>> BlocksAsync(CancellationToken cancellationToken) =>
        (await blocks.AllAsync(cancellationToken).ConfigureAwait(false)).Select(BlockSummary.Of).ToList();

    private static Task BadRequestAsync(HttpContext context, string error) =>
        ReplyAsync(context, StatusCodes.Status400BadRequest, new AdminError(error), AdminJson.Default.AdminError);

    private static async Task ReplyAsync<T>(HttpContext context, int status, T body, JsonTypeInfo<T> type)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json; charset=utf-8";
        context.Response.Headers.CacheControl = "no-store";
        await JsonSerializer.SerializeAsync(context.Response.Body, body, type, context.RequestAborted).ConfigureAwait(false);
    }
}
