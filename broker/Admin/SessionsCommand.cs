using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using GitHubActionsPort.Broker.Configuration;

namespace GitHubActionsPort.Broker.Admin;

/// <summary>
/// <c>ghaport-broker sessions list|revoke|unblock</c>: a client of the admin endpoint. The endpoint and credential
/// come from the broker's own configuration (<c>--config</c>, <c>Broker__Admin__*</c> variables), so on the broker's
/// host no flag is needed. Exit codes: 0 done, 1 unexpected failure, 2 bad command line or configuration (or a
/// request the endpoint found malformed), 4 the admin endpoint cannot be reached, 5 the credential was refused,
/// 6 no such lease or block.
/// </summary>
internal static class SessionsCommand
{
    public const int ExitOk = 0;
    public const int ExitFailure = 1;
    public const int ExitUsage = 2;
    public const int ExitUnreachable = 4;
    public const int ExitCredentialRefused = 5;
    public const int ExitNotFound = 6;

    private static readonly string[] Headings = ["LEASE", "EXPIRES", "TUNNELS", "TARGETS", "RUN", "CALLER"];

    private static readonly string[] InstanceHeadings = ["INSTANCE", "STATE", "HEARTBEAT", "ADDRESS"];

    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);

    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter output, TextWriter error, HttpMessageHandler? handler = null)
    {
        ArgumentNullException.ThrowIfNull(error);
        SessionsArguments parsed;
        try
        {
            parsed = SessionsArguments.Parse(args);
        }
        catch (ArgumentException ex)
        {
            await error.WriteLineAsync($"ghaport-broker: {ex.Message}").ConfigureAwait(false);
            return ExitUsage;
        }

        return await RunAsync(parsed, output, error, handler).ConfigureAwait(false);
    }

    /// <summary>Runs an already parsed command line (the broker's own parse of <c>ghaport-broker sessions ...</c>).</summary>
    public static async Task<int> RunAsync(SessionsArguments parsed, TextWriter output, TextWriter error, HttpMessageHandler? handler = null)
    {
        ArgumentNullException.ThrowIfNull(parsed);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        Uri url;
        string token;
        try
        {
            (url, token) = Locate(parsed);
        }
        catch (ArgumentException ex)
        {
            await error.WriteLineAsync($"ghaport-broker: {ex.Message}").ConfigureAwait(false);
            return ExitUsage;
        }
        catch (BrokerConfigurationException ex)
        {
            await error.WriteLineAsync($"ghaport-broker: {ex.Message}").ConfigureAwait(false);
            return ExitUsage;
        }
        catch (Exception ex) when (ex is FileNotFoundException or InvalidDataException)
        {
            await error.WriteLineAsync($"ghaport-broker: configuration file unusable: {ex.Message}").ConfigureAwait(false);
            return ExitUsage;
        }

        using var client = new HttpClient(handler ?? new SocketsHttpHandler(), disposeHandler: handler is null) { BaseAddress = url, Timeout = RequestTimeout };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        client.DefaultRequestHeaders.Add(AdminApi.ByHeader, Operator());
        try
        {
            using var response = parsed.Command switch
            {
                "list" => await client.GetAsync(new Uri("admin/sessions", UriKind.Relative)).ConfigureAwait(false),
                "revoke" => await client.PostAsync(new Uri("admin/revoke", UriKind.Relative), RevokeBody(parsed)).ConfigureAwait(false),
                _ => await client.DeleteAsync(new Uri("admin/blocks/" + Uri.EscapeDataString(parsed.BlockId!), UriKind.Relative)).ConfigureAwait(false),
            };
            var body = await response.Content.ReadAsStringAsync().ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                return await RefusedAsync(response.StatusCode, body, url, error).ConfigureAwait(false);
            }

            await PrintAsync(parsed, body, output).ConfigureAwait(false);
            return ExitOk;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            var why = ex is TaskCanceledException ? $"no answer within {RequestTimeout.TotalSeconds:0} s" : ex.Message;
            await error.WriteLineAsync($"ghaport-broker: cannot reach the admin endpoint at {url}: {why}; is the broker running, and is Broker:Admin:Url where it listens?").ConfigureAwait(false);
            return ExitUnreachable;
        }
        catch (JsonException ex)
        {
            await error.WriteLineAsync($"ghaport-broker: the admin endpoint at {url} answered something else than expected: {ex.Message}").ConfigureAwait(false);
            return ExitFailure;
        }
    }

    /// <summary>The endpoint and credential: flags first, then the broker's configuration.</summary>
    private static (Uri Url, string Token) Locate(SessionsArguments parsed)
    {
        var settings = AdminSettings.Read(CommandConfiguration.Read(parsed.ConfigFiles, []));
        var url = parsed.AdminUrl ?? settings.Url;
        if (url.Port == 0)
        {
            throw new ArgumentException($"{AdminSettings.Section}:Url has port 0 (the OS picks one at each start): pass --admin-url with the port the broker logged");
        }

        var token = parsed.AdminTokenFile is { } file
            ? AdminCredential.ReadToken(Path.GetFullPath(file), "--admin-token-file")
            : File.Exists(settings.TokenFile)
                ? AdminCredential.ReadToken(settings.TokenFile, $"{AdminSettings.Section}:TokenFile")
                : throw new ArgumentException($"no admin credential at {settings.TokenFile}: the broker makes it on its first start (as the same user), or pass --admin-token-file");
        return (url, token);
    }

    private static StringContent RevokeBody(SessionsArguments parsed)
    {
        var request = new RevokeRequest
        {
            LeaseId = parsed.LeaseId,
            Claims = parsed.Claims.Count == 0 ? null : new Dictionary<string, string>(parsed.Claims, StringComparer.Ordinal),
            Block = parsed.Block,
            Reason = parsed.Reason,
            By = Operator(),
        };
        return new StringContent(JsonSerializer.Serialize(request, AdminJson.Default.RevokeRequest), Encoding.UTF8, "application/json");
    }

    private static string Operator() => $"{Environment.UserName}@{Environment.MachineName}";

    private static async Task<int> RefusedAsync(HttpStatusCode status, string body, Uri url, TextWriter error)
    {
        var detail = TryRead(body, AdminJson.Default.AdminError)?.Error ?? $"HTTP {(int)status}";
        switch (status)
        {
            case HttpStatusCode.Unauthorized:
                await error.WriteLineAsync($"ghaport-broker: the admin endpoint at {url} refused the credential; use the broker's own (Broker:Admin:TokenFile, or --admin-token-file)").ConfigureAwait(false);
                return ExitCredentialRefused;
            case HttpStatusCode.NotFound:
                await error.WriteLineAsync($"ghaport-broker: {detail}").ConfigureAwait(false);
                return ExitNotFound;
            case HttpStatusCode.BadRequest:
                await error.WriteLineAsync($"ghaport-broker: {detail}").ConfigureAwait(false);
                return ExitUsage;
            default:
                await error.WriteLineAsync($"ghaport-broker: the admin endpoint at {url} answered {(int)status}: {detail}").ConfigureAwait(false);
                return ExitFailure;
        }
    }

    private static async Task PrintAsync(SessionsArguments parsed, string body, TextWriter output)
    {
        if (parsed.Json)
        {
            await output.WriteLineAsync(body).ConfigureAwait(false);
            return;
        }

        switch (parsed.Command)
        {
            case "list":
                var sessions = JsonSerializer.Deserialize(body, AdminJson.Default.SessionsReply) ?? throw new JsonException("an empty reply");
                await PrintSessionsAsync(sessions, output).ConfigureAwait(false);
                break;
            case "revoke":
                var revoked = JsonSerializer.Deserialize(body, AdminJson.Default.RevokeReply) ?? throw new JsonException("an empty reply");
                await output.WriteLineAsync(revoked.Revoked.Count == 0
                    ? "no live lease matched"
                    : $"revoked {revoked.Revoked.Count} lease{(revoked.Revoked.Count == 1 ? string.Empty : "s")}: {string.Join(' ', revoked.Revoked)}").ConfigureAwait(false);
                if (revoked.Block is { } block)
                {
                    await output.WriteLineAsync($"block {block.Id} on {Claims(block.Claims)}: new sessions matching it are refused until 'ghaport-broker sessions unblock {block.Id}'").ConfigureAwait(false);
                }

                foreach (var attempt in revoked.AttemptBlocks ?? [])
                {
                    await output.WriteLineAsync($"block {attempt.Id} on {Claims(attempt.Claims)}: new sessions of the run attempt of lease {attempt.RevokedLease} are refused until 'ghaport-broker sessions unblock {attempt.Id}'").ConfigureAwait(false);
                }

                break;
            default:
                await output.WriteLineAsync($"block {parsed.BlockId} lifted").ConfigureAwait(false);
                break;
        }
    }

    private static async Task PrintSessionsAsync(SessionsReply sessions, TextWriter output)
    {
        if (sessions.Leases.Count == 0)
        {
            await output.WriteLineAsync("no live leases").ConfigureAwait(false);
        }
        else
        {
            var rows = new List<string[]> { Headings };
            rows.AddRange(sessions.Leases.Select(l => new[]
            {
                l.Id,
                l.ExpiresAt.ToString("u", CultureInfo.InvariantCulture),
                l.OpenTunnels.ToString(CultureInfo.InvariantCulture),
                string.Join(',', l.Targets),
                $"{l.Claims.GetValueOrDefault("run_id", "-")}/{l.Claims.GetValueOrDefault("run_attempt", "-")}",
                Caller(l),
            }));
            await PrintTableAsync(rows, output).ConfigureAwait(false);

            // Which instance carries each tunnel: the one to look at (or whose loss ends it).
            foreach (var lease in sessions.Leases)
            {
                foreach (var tunnel in lease.Tunnels ?? [])
                {
                    await output.WriteLineAsync($"tunnel {tunnel.Id} of {lease.Id} to {tunnel.Target} on {tunnel.Instance} since {tunnel.OpenedAt:u}").ConfigureAwait(false);
                }
            }
        }

        foreach (var block in sessions.Blocks)
        {
            await output.WriteLineAsync($"block {block.Id} on {Claims(block.Claims)} since {block.CreatedAt:u} by {block.By}: {block.Reason}").ConfigureAwait(false);
        }

        if (sessions.Instances is { Count: > 0 } instances)
        {
            var rows = new List<string[]> { InstanceHeadings };
            rows.AddRange(instances.Select(i => new[] { i.Id, i.State, i.HeartbeatAt.ToString("u", CultureInfo.InvariantCulture), i.Address.Length > 0 ? i.Address : "-" }));
            await output.WriteLineAsync().ConfigureAwait(false);
            await PrintTableAsync(rows, output).ConfigureAwait(false);
        }
    }

    /// <summary>Columns padded to their widest cell; the last one is not padded.</summary>
    private static async Task PrintTableAsync(List<string[]> rows, TextWriter output)
    {
        var widths = Enumerable.Range(0, rows[0].Length).Select(c => rows.Max(r => r[c].Length)).ToArray();
        foreach (var row in rows)
        {
            await output.WriteLineAsync(string.Join("  ", row.Select((cell, c) => c == row.Length - 1 ? cell : cell.PadRight(widths[c])))).ConfigureAwait(false);
        }
    }

    private static string Caller(LeaseSummary lease) =>
        lease.Claims.TryGetValue("repository", out var repository)
            ? $"repository={repository} ref={lease.Claims.GetValueOrDefault("ref", "(none)")}"
            : $"sub={lease.Subject}";

    private static string Claims(IReadOnlyDictionary<string, string> claims) => string.Join(' ', claims.Select(c => $"{c.Key}={c.Value}"));

    private static T? TryRead<T>(string body, JsonTypeInfo<T> type)
    {
        try
        {
            return JsonSerializer.Deserialize(body, type);
        }
        catch (JsonException)
        {
            return default;
        }
    }
}
