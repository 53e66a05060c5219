using System.Buffers.Text;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace GitHubActionsPort.Broker.DevIssuer;

/// <summary>
/// A development OIDC issuer on loopback: discovery, a JWKS, and GitHub Actions' id-token request endpoint
/// (<c>GET {ACTIONS_ID_TOKEN_REQUEST_URL}&amp;audience=X</c> with the request token as bearer, answering
/// <c>{"value": "&lt;jwt&gt;"}</c>), minting GitHub-shaped tokens. It lets the demo and the tests run the agent's
/// real GitHub code path without GitHub. It refuses to listen anywhere but loopback.
/// </summary>
public sealed class DevIssuer : IAsyncDisposable
{
    private static readonly string[] ResponseTypes = ["id_token"];
    private static readonly string[] SubjectTypes = ["public"];
    private static readonly string[] SigningAlgorithms = ["RS256"];

    private readonly WebApplication _app;
    private readonly RsaSecurityKey _key;

    private DevIssuer(IPAddress address)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(address, 0));
        _app = builder.Build();
        _key = new RsaSecurityKey(RSA.Create(2048)) { KeyId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)) };
        RequestToken = Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(24));
        MapEndpoints();
    }

    /// <summary>The <c>iss</c> of every token minted here, and the base of its discovery document.</summary>
    public string Issuer { get; private set; } = string.Empty;

    /// <summary>The value for <c>ACTIONS_ID_TOKEN_REQUEST_URL</c>.</summary>
    public string RequestUrl => Issuer + "/_apis/idtoken?api-version=2.0";

    /// <summary>The value for <c>ACTIONS_ID_TOKEN_REQUEST_TOKEN</c>: a bearer secret for the request endpoint.</summary>
    public string RequestToken { get; }

    /// <summary>Claims of the tokens served at the request endpoint; starts as a push to main of acme/app.</summary>
    public Dictionary<string, object> Claims { get; } = DefaultClaims();

    /// <summary>How long minted tokens live. Default: 5 minutes, as GitHub's.</summary>
    public TimeSpan TokenLifetime { get; set; } = TimeSpan.FromMinutes(5);

    public static async Task<DevIssuer> StartAsync(IPAddress? address = null, CancellationToken cancellationToken = default)
    {
        address ??= IPAddress.Loopback;
        if (!IPAddress.IsLoopback(address))
        {
            throw new InvalidOperationException("The development issuer listens on loopback only.");
        }

        var issuer = new DevIssuer(address);
        await issuer._app.StartAsync(cancellationToken).ConfigureAwait(false);
        var bound = issuer._app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        issuer.Issuer = bound.TrimEnd('/');
        return issuer;
    }

    /// <summary>Mints a token for <paramref name="audience"/> with <see cref="Claims"/>, overridden by <paramref name="claims"/>.</summary>
    public string MintToken(string audience, IReadOnlyDictionary<string, object>? claims = null, TimeSpan? lifetime = null)
    {
        var now = DateTime.UtcNow;
        var payload = new Dictionary<string, object>(Claims)
        {
            ["jti"] = Guid.NewGuid().ToString(),
        };
        foreach (var (name, value) in claims ?? new Dictionary<string, object>())
        {
            payload[name] = value;
        }

        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Issuer,
            Audience = audience,
            Claims = payload,
            IssuedAt = now,
            NotBefore = now,
            Expires = now + (lifetime ?? TokenLifetime),
            SigningCredentials = new SigningCredentials(_key, SecurityAlgorithms.RsaSha256),
        });
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        _key.Rsa.Dispose();
    }

    private void MapEndpoints()
    {
        // The port is known only after start, so handlers read the issuer URL when they run.
        string IssuerText() => Issuer;
        _app.MapGet("/.well-known/openid-configuration", () => Results.Json(new Dictionary<string, object>
        {
            ["issuer"] = IssuerText(),
            ["jwks_uri"] = IssuerText() + "/.well-known/jwks",
            ["response_types_supported"] = ResponseTypes,
            ["subject_types_supported"] = SubjectTypes,
            ["id_token_signing_alg_values_supported"] = SigningAlgorithms,
        }));

        _app.MapGet("/.well-known/jwks", () =>
        {
            var parameters = _key.Rsa.ExportParameters(includePrivateParameters: false);
            return Results.Json(new { keys = new[] { new { kty = "RSA", use = "sig", alg = "RS256", kid = _key.KeyId, n = Base64Url.EncodeToString(parameters.Modulus), e = Base64Url.EncodeToString(parameters.Exponent) } } });
        });

        _app.MapGet("/_apis/idtoken", (HttpContext context) =>
        {
            var authorization = context.Request.Headers.Authorization.ToString();
            var presented = authorization.StartsWith("bearer ", StringComparison.OrdinalIgnoreCase) ? authorization[7..] : string.Empty;
            if (!CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(presented), Encoding.UTF8.GetBytes(RequestToken)))
            {
                return Results.Unauthorized();
            }

            var audience = context.Request.Query["audience"].ToString();
            return Results.Json(new { value = MintToken(string.IsNullOrEmpty(audience) ? IssuerText() : audience) });
        });
    }

    private static Dictionary<string, object> DefaultClaims() => new()
    {
        ["sub"] = "repo:acme/app:ref:refs/heads/main",
        ["repository"] = "acme/app",
        ["repository_id"] = "100001",
        ["repository_owner"] = "acme",
        ["repository_owner_id"] = "200001",
        ["repository_visibility"] = "private",
        ["ref"] = "refs/heads/main",
        ["ref_type"] = "branch",
        ["sha"] = "0123456789abcdef0123456789abcdef01234567",
        ["workflow"] = "CI",
        ["workflow_ref"] = "acme/app/.github/workflows/ci.yml@refs/heads/main",
        ["job_workflow_ref"] = "acme/app/.github/workflows/ci.yml@refs/heads/main",
        ["event_name"] = "push",
        ["actor"] = "octocat",
        ["run_id"] = "3000001",
        ["run_number"] = "7",
        ["run_attempt"] = "1",
        ["runner_environment"] = "github-hosted",
    };
}
