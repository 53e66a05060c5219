using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using GitHubActionsPort.Broker.Auth;
using GitHubActionsPort.Broker.Leases;

namespace GitHubActionsPort.Broker.Admin;

/// <summary>
/// The admin endpoint's requests: <c>GET /admin/sessions</c>, <c>POST /admin/revoke</c>, <c>GET /admin/blocks</c>,
/// <c>DELETE /admin/blocks/{id}</c>. Every request, known path or not, must carry the admin credential first.
/// </summary>
internal sealed class AdminApi(AdminCredential credential, LeaseStore leases, SessionBlocks blocks, ILogger<AdminApi> logger)
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
        var path = request.Path.Value ?? string.Empty;
        switch (request.Method, path)
        {
            case ("GET", "/admin/sessions"):
                await ReplyAsync(context, StatusCodes.Status200OK, new SessionsReply(Sessions(), Blocks()), AdminJson.Default.SessionsReply).ConfigureAwait(false);
                break;
            case ("GET", "/admin/blocks"):
                await ReplyAsync(context, StatusCodes.Status200OK, Blocks(), AdminJson.Default.IReadOnlyListBlockSummary).ConfigureAwait(false);
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

            var lease = leases.Live.FirstOrDefault(l => string.Equals(l.Id, leaseId, StringComparison.Ordinal));
            if (lease is null)
            {
                await ReplyAsync(context, StatusCodes.Status404NotFound, new AdminError($"no live lease '{AuditText.Clean(leaseId)}'"), AdminJson.Default.AdminError).ConfigureAwait(false);
                return;
            }

            End(lease, endReason, LeaseEndKind.Revoked, by, peer, reason);
            var attempt = BlockAttempt(lease, by, reason);
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
            block = blocks.Add(selector!, reason ?? "(no reason given)", by);
            AdminLog.Blocked(logger, block.Id, selector!.ToString(), by, peer, block.Reason);
        }

        var revoked = new List<string>();
        var attemptBlocks = new List<BlockSummary>();
        foreach (var lease in leases.Live.Where(l => selector!.Matches(l.Caller)).ToList())
        {
            End(lease, endReason, block is null ? LeaseEndKind.Revoked : LeaseEndKind.Blocked, by, peer, reason);
            revoked.Add(lease.Id);
            if (BlockAttempt(lease, by, reason) is { } attempt)
            {
                attemptBlocks.Add(BlockSummary.Of(attempt));
            }
        }

        AdminLog.RevocationMatched(logger, by, peer, selector!.ToString(), revoked.Count);
        await ReplyAsync(context, StatusCodes.Status200OK, new RevokeReply(revoked, block is null ? null : BlockSummary.Of(block), attemptBlocks), AdminJson.Default.RevokeReply).ConfigureAwait(false);
    }

    private async Task UnblockAsync(HttpContext context, string id, string by, string peer)
    {
        if (!blocks.TryRemove(id, out var block))
        {
            await ReplyAsync(context, StatusCodes.Status404NotFound, new AdminError($"no block '{AuditText.Clean(id)}'"), AdminJson.Default.AdminError).ConfigureAwait(false);
            return;
        }

        AdminLog.Unblocked(logger, block!.Id, block.Selector.ToString(), by, peer);
        await ReplyAsync(context, StatusCodes.Status200OK, Blocks(), AdminJson.Default.IReadOnlyListBlockSummary).ConfigureAwait(false);
    }

    private void End(Lease lease, string endReason, LeaseEndKind kind, string by, string peer, string? reason)
    {
        leases.EndSoon(lease, endReason, kind);
        AdminLog.LeaseRevoked(logger, lease.Id, by, peer, reason ?? "(no reason given)", lease.Caller.Describe());
    }

    /// <summary>
    /// A revocation ends the job's access, not just one lease: new sessions of the revoked lease's run attempt
    /// (its <c>run_id</c> and <c>run_attempt</c>, and <c>repository</c> where the token has one) are refused until an
    /// operator lifts the block. Null when a block already covers the job, or its token names no run to block.
    /// </summary>
    private SessionBlock? BlockAttempt(Lease lease, string by, string? reason)
    {
        if (blocks.Match(lease.Caller) is not null)
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

        var why = $"lease {lease.Id} of this run attempt was revoked by {by} at {lease.EndedAt ?? DateTimeOffset.UtcNow:u}" + (reason is null ? string.Empty : $": {reason}");
        var block = blocks.Add(selector!, why, by, lease.Id);
        AdminLog.AttemptBlocked(logger, block.Id, selector!.ToString(), lease.Id);
        return block;
    }

    private List<LeaseSummary> Sessions() =>
        leases.Live
            .OrderBy(l => l.GrantedAt)
            .Select(l => new LeaseSummary(
                l.Id,
                l.Caller.Issuer,
                l.Caller.Subject,
                l.Caller.Claims.ToDictionary(c => c.Key, c => AuditText.Clean(c.Value), StringComparer.Ordinal),
                l.Targets.Order(StringComparer.Ordinal).ToList(),
                l.GrantedAt,
                l.ExpiresAt,
                l.MaxExpiresAt,
                l.OpenTunnels))
            .ToList();

    private List<BlockSummary> Blocks() => blocks.All.Select(BlockSummary.Of).ToList();

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
