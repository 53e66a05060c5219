using System.Buffers.Text;
using System.Net;
using System.Security.Cryptography;
using System.Text;
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
/// An OIDC issuer on loopback whose keys the test holds: it publishes discovery and a JWKS like any issuer, and lets
/// a test sign any payload with any header, so it can mint the tokens a well-behaved issuer never would (expired,
/// without <c>jti</c>, unsigned, from the future, with a forged header). Its JWKS can be rotated, made to fail or
/// held unanswered, and every request it serves is recorded, so a test can count the broker's fetches.
/// </summary>
public sealed class ForgeIssuer : IAsyncDisposable
{
    public const string JwksPath = "/.well-known/jwks";

    private readonly WebApplication _app;
    private readonly Lock _lock = new();
    private SecurityKey[] _published;
    private TaskCompletionSource<int>? _held;

    private ForgeIssuer(WebApplication app, string issuer)
    {
        _app = app;
        Issuer = issuer;
        _published = [RsaKey, EcKey, Ec384Key, Ec521Key];
    }

    /// <summary>The <c>iss</c> the broker is configured to trust for this issuer.</summary>
    public string Issuer { get; }

    // Key ids differ per instance, so one issuer's key id never names another's key by accident.
    public RsaSecurityKey RsaKey { get; } = new(RSA.Create(2048)) { KeyId = NewKeyId("rsa") };

    public ECDsaSecurityKey EcKey { get; } = new(ECDsa.Create(ECCurve.NamedCurves.nistP256)) { KeyId = NewKeyId("p256") };

    public ECDsaSecurityKey Ec384Key { get; } = new(ECDsa.Create(ECCurve.NamedCurves.nistP384)) { KeyId = NewKeyId("p384") };

    /// <summary>Published, so a refused ES512 token is refused for its algorithm and not for want of a key.</summary>
    public ECDsaSecurityKey Ec521Key { get; } = new(ECDsa.Create(ECCurve.NamedCurves.nistP521)) { KeyId = NewKeyId("p521") };

    public SigningCredentials Rs256 => new(RsaKey, SecurityAlgorithms.RsaSha256);

    /// <summary>The path of every request served, in order.</summary>
    public Sightings<string> Requests { get; } = new();

    public int JwksRequests => Requests.All.Count(p => p == JwksPath);

    /// <summary>The status the JWKS endpoint answers with; anything but 200 makes it an issuer that is down.</summary>
    public int JwksStatusCode { get; set; } = StatusCodes.Status200OK;

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
        app.Use((context, next) =>
        {
            issuer!.Requests.Add(context.Request.Path.Value ?? string.Empty);
            return next(context);
        });
        app.MapGet("/.well-known/openid-configuration", () => Results.Json(new Dictionary<string, object>
        {
            ["issuer"] = issuer!.Issuer,
            ["jwks_uri"] = issuer.Issuer + JwksPath,
        }));
        app.MapGet(JwksPath, () => issuer!.JwksAsync());
        app.Start();
        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        issuer = new ForgeIssuer(app, bound.TrimEnd('/'));
        return issuer;
    }

    /// <summary>Replaces the published keys (a rotation); the private halves stay with the test.</summary>
    public void Publish(params SecurityKey[] keys)
    {
        lock (_lock)
        {
            _published = keys;
        }
    }

    /// <summary>Leaves JWKS requests unanswered until <see cref="ReleaseJwks"/>: an issuer that hangs.</summary>
    public void HoldJwks()
    {
        lock (_lock)
        {
            _held ??= new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    /// <summary>Answers the held JWKS requests, and those after, with <paramref name="statusCode"/>.</summary>
    public void ReleaseJwks(int statusCode)
    {
        TaskCompletionSource<int>? held;
        lock (_lock)
        {
            held = _held;
            _held = null;
            JwksStatusCode = statusCode;
        }

        held?.TrySetResult(statusCode);
    }

    /// <summary>Completes when the JWKS has been asked for <paramref name="count"/> times in all.</summary>
    public Task WaitForJwksRequestsAsync(int count) => Requests.WaitForAsync(p => p == JwksPath, count);

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

    /// <summary>
    /// Signs the payload as given (no claim added or changed); null credentials give an <c>alg: none</c> token.
    /// <paramref name="header"/> adds members to the header the library writes (alg, kid, typ).
    /// </summary>
    public static string Sign(IReadOnlyDictionary<string, object> payload, SigningCredentials? credentials, IDictionary<string, object>? header = null)
    {
        var handler = new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false };
        var json = JsonSerializer.Serialize(payload);
        return credentials is null ? handler.CreateToken(json)
            : header is null ? handler.CreateToken(json, credentials)
            : handler.CreateToken(json, credentials, header);
    }

    /// <summary>
    /// A token from raw JSON text, for what a serializer never writes (a member twice, bytes after the object):
    /// <paramref name="headerJson"/> and <paramref name="payloadJson"/> are encoded as given and signed with
    /// <paramref name="key"/> under <paramref name="algorithm"/>, whatever the header says.
    /// </summary>
    public static string SignRaw(string headerJson, string payloadJson, SecurityKey key, string algorithm)
    {
        ArgumentNullException.ThrowIfNull(key);
        var signingInput = Segment(headerJson) + "." + Segment(payloadJson);
        var provider = key.CryptoProviderFactory.CreateForSigning(key, algorithm);
        try
        {
            return signingInput + "." + Base64Url.EncodeToString(provider.Sign(Encoding.ASCII.GetBytes(signingInput)));
        }
        finally
        {
            key.CryptoProviderFactory.ReleaseSignatureProvider(provider);
        }
    }

    /// <summary>Base64url of UTF-8 text, as a JWT segment.</summary>
    public static string Segment(string text) => Base64Url.EncodeToString(Encoding.UTF8.GetBytes(text));

    /// <summary>The public JWK of an RSA or EC key, as an issuer would publish it.</summary>
    public static Dictionary<string, object> PublicJwk(SecurityKey key) => key switch
    {
        RsaSecurityKey rsa => RsaJwk(rsa.KeyId, rsa.Rsa.ExportParameters(includePrivateParameters: false)),
        ECDsaSecurityKey ec => EcJwk(ec.KeyId, ec.ECDsa.ExportParameters(includePrivateParameters: false)),
        _ => throw new ArgumentException($"No JWK form for {key?.GetType().Name}.", nameof(key)),
    };

    public async ValueTask DisposeAsync()
    {
        ReleaseJwks(StatusCodes.Status503ServiceUnavailable);
        await _app.StopAsync().DefaultTimeout();
        await _app.DisposeAsync();
        RsaKey.Rsa.Dispose();
        EcKey.ECDsa.Dispose();
        Ec384Key.ECDsa.Dispose();
        Ec521Key.ECDsa.Dispose();
    }

    private async Task<IResult> JwksAsync()
    {
        Task<int>? held;
        int status;
        SecurityKey[] keys;
        lock (_lock)
        {
            held = _held?.Task;
            status = JwksStatusCode;
            keys = _published;
        }

        if (held is not null)
        {
            status = await held;
        }

        return status == StatusCodes.Status200OK
            ? Results.Text(JsonSerializer.Serialize(new { keys = keys.Select(PublicJwk) }), "application/json")
            : Results.StatusCode(status);
    }

    private static Dictionary<string, object> RsaJwk(string kid, RSAParameters key) => new()
    {
        ["kty"] = "RSA",
        ["use"] = "sig",
        ["kid"] = kid,
        ["n"] = Base64Url.EncodeToString(key.Modulus),
        ["e"] = Base64Url.EncodeToString(key.Exponent),
    };

    private static Dictionary<string, object> EcJwk(string kid, ECParameters key) => new()
    {
        ["kty"] = "EC",
        ["use"] = "sig",
        ["kid"] = kid,
        ["crv"] = key.Q.X!.Length switch { 32 => "P-256", 48 => "P-384", _ => "P-521" },
        ["x"] = Base64Url.EncodeToString(key.Q.X),
        ["y"] = Base64Url.EncodeToString(key.Q.Y),
    };

    private static string NewKeyId(string kind) => $"forge-{kind}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}";
}
