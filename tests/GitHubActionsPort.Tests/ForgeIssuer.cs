using System.Buffers.Text;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace GitHubActionsPort.Tests;

/// <summary>
/// An OIDC issuer on loopback whose keys the test holds: it publishes discovery and a JWKS (one RSA and one P-256
/// key) like any issuer, and lets a test sign any payload with any header, so it can mint the tokens a
/// well-behaved issuer never would (expired, without <c>jti</c>, unsigned, from the future).
/// </summary>
public sealed class ForgeIssuer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private ForgeIssuer(WebApplication app, string issuer)
    {
        _app = app;
        Issuer = issuer;
    }

    /// <summary>The <c>iss</c> the broker is configured to trust for this issuer.</summary>
    public string Issuer { get; }

    public RsaSecurityKey RsaKey { get; } = new(RSA.Create(2048)) { KeyId = "forge-rsa" };

    public ECDsaSecurityKey EcKey { get; } = new(ECDsa.Create(ECCurve.NamedCurves.nistP256)) { KeyId = "forge-ec" };

    public SigningCredentials Rs256 => new(RsaKey, SecurityAlgorithms.RsaSha256);

    /// <summary>
    /// Starts synchronously, so a fixture can start it from the configuration hook that runs before its broker.
    /// </summary>
    public static ForgeIssuer Start()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        ForgeIssuer? issuer = null;
        app.MapGet("/.well-known/openid-configuration", () => Results.Json(new Dictionary<string, object>
        {
            ["issuer"] = issuer!.Issuer,
            ["jwks_uri"] = issuer.Issuer + "/.well-known/jwks",
        }));
        app.MapGet("/.well-known/jwks", (HttpContext context) => Results.Text(issuer!.Jwks(), "application/json"));
        app.Start();
        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        issuer = new ForgeIssuer(app, bound.TrimEnd('/'));
        return issuer;
    }

    /// <summary>A GitHub-shaped payload for acme/app on main, valid for five minutes from now.</summary>
    public Dictionary<string, object> Payload(string audience = "ghaport") => GitHubPayload(Issuer, audience);

    /// <summary>A GitHub-shaped payload naming <paramref name="issuer"/>, for tokens forged in another issuer's name.</summary>
    public static Dictionary<string, object> GitHubPayload(string issuer, string audience)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        return new Dictionary<string, object>
        {
            ["iss"] = issuer,
            ["aud"] = audience,
            ["iat"] = now,
            ["nbf"] = now,
            ["exp"] = now + 300,
            ["jti"] = Guid.NewGuid().ToString(),
            ["sub"] = "repo:acme/app:ref:refs/heads/main",
            ["repository"] = "acme/app",
            ["repository_owner"] = "acme",
            ["ref"] = "refs/heads/main",
            ["workflow"] = "CI",
            ["event_name"] = "push",
        };
    }

    /// <summary>Signs the payload as given (no claim added or changed); null credentials give an <c>alg: none</c> token.</summary>
    public static string Sign(IReadOnlyDictionary<string, object> payload, SigningCredentials? credentials)
    {
        var handler = new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false };
        var json = JsonSerializer.Serialize(payload);
        return credentials is null ? handler.CreateToken(json) : handler.CreateToken(json, credentials);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().DefaultTimeout();
        await _app.DisposeAsync();
        RsaKey.Rsa.Dispose();
        EcKey.ECDsa.Dispose();
    }

    private string Jwks()
    {
        var rsa = RsaKey.Rsa.ExportParameters(includePrivateParameters: false);
        var ec = EcKey.ECDsa.ExportParameters(includePrivateParameters: false);
        return JsonSerializer.Serialize(new
        {
            keys = new object[]
            {
                new { kty = "RSA", use = "sig", alg = "RS256", kid = RsaKey.KeyId, n = Base64Url.EncodeToString(rsa.Modulus), e = Base64Url.EncodeToString(rsa.Exponent) },
                new { kty = "EC", use = "sig", alg = "ES256", kid = EcKey.KeyId, crv = "P-256", x = Base64Url.EncodeToString(ec.Q.X), y = Base64Url.EncodeToString(ec.Q.Y) },
            },
        });
    }
}
