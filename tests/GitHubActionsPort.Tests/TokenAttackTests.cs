using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using GitHubActionsPort.Broker.DevIssuer;
using GitHubActionsPort.Protocol.V1;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Http;
using Microsoft.IdentityModel.Tokens;
using BrokerClient = GitHubActionsPort.Protocol.V1.Broker.BrokerClient;

namespace GitHubActionsPort.Tests;

/// <summary>
/// The id-token attack catalogue: each case sends a crafted token to the real <c>OpenSession</c> endpoint of a real
/// broker that fetches discovery and JWKS over HTTP from a test issuer, and checks the status, that the refusal left
/// a <c>TokenRejected</c> line naming the peer, and that neither the log nor the reply holds the token.
/// Cases that depend on the broker's key cache (rotation, floods, start-up) get a broker and issuer of their own.
/// </summary>
public sealed class TokenAttackTests : BrokerClientFixture
{
    private const string Audience = "ghaport";
    private static readonly string[] EchoOnly = ["echo"];

    // Created in the configuration hook the base fixture's one-time set-up calls, disposed in the one-time tear-down.
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Structure", "NUnit1032", Justification = "Disposed in OneTimeTearDown.")]
    private ForgeIssuer _forge = null!;

    private static long Now => DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    protected override void Configure(Dictionary<string, string?> configuration)
    {
        // A second trusted issuer whose keys the test holds, with a rule of its own granting acme/app the echo target.
        _forge = ForgeIssuer.Start();
        configuration["Broker:Issuers:1:Issuer"] = _forge.Issuer;
        configuration["Broker:Issuers:1:Audiences:0"] = Audience;
        configuration["Broker:Rules:1:Name"] = "forge";
        configuration["Broker:Rules:1:Issuer"] = _forge.Issuer;
        configuration["Broker:Rules:1:Claims:repository"] = "acme/app";
        configuration["Broker:Rules:1:Targets:0"] = "echo";
    }

    [OneTimeTearDown]
    public async Task DisposeForgeAsync() => await _forge.DisposeAsync();

    // ---- The signature and its algorithm ----------------------------------------------------------------------

    [Test]
    public async Task AlgNone_UnsignedToken_IsRefused()
    {
        var token = ForgeIssuer.Sign(_forge.Payload(), credentials: null);
        Assert.That(token, Does.EndWith("."), "precondition: an alg none token has an empty signature");

        var detail = await AssertRefusedAsync(token);

        Assert.That(detail, Does.Contain("algorithm"));
    }

    [TestCase("None")]
    [TestCase("NONE")]
    [TestCase("rs256")]
    public async Task AlgNameVariant_WithAValidRs256Signature_IsRefused(string alg)
    {
        // Signed for real with the published key: only the spelling of alg is off, and names compare exactly.
        var token = ForgeIssuer.SignRaw(Header(alg, _forge.RsaKey.KeyId), Json(_forge.Payload()), _forge.RsaKey, SecurityAlgorithms.RsaSha256);

        var detail = await AssertRefusedAsync(token);

        Assert.That(detail, Does.Contain("algorithm"));
    }

    [Test]
    public async Task Rs256Header_WithTheSignatureStripped_IsRefused()
    {
        var signed = ForgeIssuer.Sign(_forge.Payload(), _forge.Rs256);
        var token = signed[..(signed.LastIndexOf('.') + 1)];

        await AssertRefusedAsync(token);
    }

    [TestCase("PemSubjectPublicKeyInfo")]
    [TestCase("DerSubjectPublicKeyInfo")]
    [TestCase("PemRsaPublicKey")]
    [TestCase("JwkJson")]
    public async Task Hs256_SignedWithTheIssuersPublicKeyAsSecret_IsRefused(string form)
    {
        // Algorithm confusion: a verifier that let the token pick HMAC would verify with the public key it holds.
        var rsa = _forge.RsaKey.Rsa;
        var secret = form switch
        {
            "PemSubjectPublicKeyInfo" => Encoding.ASCII.GetBytes(rsa.ExportSubjectPublicKeyInfoPem()),
            "DerSubjectPublicKeyInfo" => rsa.ExportSubjectPublicKeyInfo(),
            "PemRsaPublicKey" => Encoding.ASCII.GetBytes(rsa.ExportRSAPublicKeyPem()),
            _ => Encoding.UTF8.GetBytes(JsonSerializer.Serialize(ForgeIssuer.PublicJwk(_forge.RsaKey))),
        };
        var token = ForgeIssuer.SignRaw(Header("HS256", _forge.RsaKey.KeyId), Json(_forge.Payload()), new SymmetricSecurityKey(secret), SecurityAlgorithms.HmacSha256);

        var detail = await AssertRefusedAsync(token);

        Assert.That(detail, Does.Contain("algorithm"));
    }

    [Test]
    public async Task Hs256_WithARandomSecret_NamingAPublishedKey_IsRefused()
    {
        var secret = new SymmetricSecurityKey(RandomNumberGenerator.GetBytes(32)) { KeyId = _forge.RsaKey.KeyId };

        await AssertRefusedAsync(ForgeIssuer.Sign(_forge.Payload(), new SigningCredentials(secret, SecurityAlgorithms.HmacSha256)));
    }

    [TestCase(SecurityAlgorithms.RsaSha256, "rsa")]
    [TestCase(SecurityAlgorithms.RsaSha384, "rsa")]
    [TestCase(SecurityAlgorithms.RsaSha512, "rsa")]
    [TestCase(SecurityAlgorithms.EcdsaSha256, "p256")]
    [TestCase(SecurityAlgorithms.EcdsaSha384, "p384")]
    public async Task AllowedAlgorithm_WithAPublishedKey_IsGranted(string alg, string key)
    {
        var token = ForgeIssuer.Sign(_forge.Payload(), new SigningCredentials(ForgeKey(key), alg));

        var response = await OpenSessionAsync(token);

        Assert.That(response.Lease.Targets, Is.EqualTo(EchoOnly));
    }

    [TestCase(SecurityAlgorithms.EcdsaSha512, "p521")]
    [TestCase(SecurityAlgorithms.RsaSsaPssSha256, "rsa")]
    [TestCase(SecurityAlgorithms.RsaSsaPssSha384, "rsa")]
    public async Task OtherAlgorithm_WithAPublishedKey_IsRefused(string alg, string key)
    {
        // The key is the issuer's own and the signature is sound: only the algorithm is outside the allowed five.
        var token = ForgeIssuer.Sign(_forge.Payload(), new SigningCredentials(ForgeKey(key), alg));

        var detail = await AssertRefusedAsync(token);

        Assert.That(detail, Does.Contain("algorithm").And.Contain("RS256, RS384, RS512, ES256, ES384"));
    }

    // ---- Keys ------------------------------------------------------------------------------------------------

    [Test]
    public async Task KeyNotInJwks_UnknownKid_IsRefused()
    {
        using var rsa = RSA.Create(2048);
        var key = new RsaSecurityKey(rsa) { KeyId = "attacker-" + Guid.NewGuid() };

        var detail = await AssertRefusedAsync(ForgeIssuer.Sign(_forge.Payload(), new SigningCredentials(key, SecurityAlgorithms.RsaSha256)));

        Assert.That(detail, Does.Contain("key its issuer does not publish"));
    }

    [Test]
    public async Task KeyNotInJwks_PublishedKid_OtherKeyMaterial_IsRefused()
    {
        using var rsa = RSA.Create(2048);
        var key = new RsaSecurityKey(rsa) { KeyId = _forge.RsaKey.KeyId };

        var detail = await AssertRefusedAsync(ForgeIssuer.Sign(_forge.Payload(), new SigningCredentials(key, SecurityAlgorithms.RsaSha256)));

        Assert.That(detail, Does.Contain("signature does not verify"));
    }

    [Test]
    public async Task OneTrustedIssuersName_SignedWithAnotherTrustedIssuersKey_IsRefused()
    {
        // Keys are per issuer: the forge's published key does not speak for the dev issuer.
        var payload = ForgeIssuer.GitHubPayload(Issuer.Issuer, Audience);

        var detail = await AssertRefusedAsync(ForgeIssuer.Sign(payload, _forge.Rs256));

        Assert.That(detail, Does.Contain("key its issuer does not publish"));
    }

    [Test]
    public async Task TokenWithoutKid_IsRefused()
    {
        var unnamed = new RsaSecurityKey(_forge.RsaKey.Rsa);

        var detail = await AssertRefusedAsync(ForgeIssuer.Sign(_forge.Payload(), new SigningCredentials(unnamed, SecurityAlgorithms.RsaSha256)));

        Assert.That(detail, Does.Contain("'kid'"));
    }

    [TestCase("jwk", false, TestName = "EmbeddedKeyHeader_Jwk_WithTheAttackersKid_IsRefused_AndNothingIsFetched")]
    [TestCase("jwk", true, TestName = "EmbeddedKeyHeader_Jwk_WithAPublishedKid_IsRefused_AndNothingIsFetched")]
    [TestCase("jku", false, TestName = "EmbeddedKeyHeader_Jku_PointingAtTheAttackersJwks_IsRefused_AndNothingIsFetched")]
    [TestCase("x5u", false, TestName = "EmbeddedKeyHeader_X5u_PointingAtTheAttackersCertificate_IsRefused_AndNothingIsFetched")]
    [TestCase("x5c", false, TestName = "EmbeddedKeyHeader_X5c_CarryingTheAttackersCertificate_IsRefused_AndNothingIsFetched")]
    [TestCase("all", false, TestName = "EmbeddedKeyHeader_AllFour_AreRefused_AndNothingIsFetched")]
    public async Task EmbeddedKeyHeader_IsNeverAKey(string header, bool publishedKid)
    {
        // The attacker runs an issuer of its own and signs with its key; the header offers that key every way JOSE allows.
        await using var attacker = ForgeIssuer.Start();
        var key = new RsaSecurityKey(attacker.RsaKey.Rsa) { KeyId = publishedKid ? _forge.RsaKey.KeyId : attacker.RsaKey.KeyId };
        using var certificate = new CertificateRequest("CN=attacker", attacker.RsaKey.Rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        var offered = new Dictionary<string, object>
        {
            ["jwk"] = ForgeIssuer.PublicJwk(key),
            ["jku"] = attacker.Issuer + ForgeIssuer.JwksPath,
            ["x5u"] = attacker.Issuer + "/attacker.pem",
            ["x5c"] = new[] { Convert.ToBase64String(certificate.RawData) },
        };
        var extra = header == "all" ? offered : new Dictionary<string, object> { [header] = offered[header] };

        await AssertRefusedAsync(ForgeIssuer.Sign(_forge.Payload(), new SigningCredentials(key, SecurityAlgorithms.RsaSha256), extra));

        Assert.That(attacker.Requests.All, Is.Empty, "the broker must never fetch a URL a token names");
    }

    // ---- Lifetime ----------------------------------------------------------------------------------------------

    [Test]
    public async Task Expired_IsRefused_AndDetailSaysExpired()
    {
        var payload = _forge.Payload();
        payload["iat"] = payload["nbf"] = Now - 600;
        payload["exp"] = Now - 300;

        var detail = await AssertRefusedAsync(ForgeIssuer.Sign(payload, _forge.Rs256));

        Assert.That(detail, Does.Contain("expired"));
    }

    [Test]
    public async Task ExpiredBy25Seconds_IsGranted_WithinTheMinuteOfClockSkew()
    {
        var payload = _forge.Payload();
        payload["iat"] = payload["nbf"] = Now - 300;
        payload["exp"] = Now - 25;

        var response = await OpenSessionAsync(ForgeIssuer.Sign(payload, _forge.Rs256));

        Assert.That(response.Lease.LeaseId, Is.Not.Empty);
    }

    [Test]
    public async Task ExpiredBy61Seconds_IsRefused_PastTheMinuteOfClockSkew()
    {
        var payload = _forge.Payload();
        payload["iat"] = payload["nbf"] = Now - 300;
        payload["exp"] = Now - 61;

        var detail = await AssertRefusedAsync(ForgeIssuer.Sign(payload, _forge.Rs256));

        Assert.That(detail, Does.Contain("expired"));
    }

    [Test]
    public async Task NotBeforeInTheFuture_IsRefused()
    {
        var payload = _forge.Payload();
        payload["nbf"] = Now + 600;
        payload["exp"] = Now + 900;

        var detail = await AssertRefusedAsync(ForgeIssuer.Sign(payload, _forge.Rs256));

        Assert.That(detail, Does.Contain("not valid yet"));
    }

    [Test]
    public async Task IssuedFarInTheFuture_IsRefused()
    {
        var payload = _forge.Payload();
        payload["iat"] = Now + 600;

        var detail = await AssertRefusedAsync(ForgeIssuer.Sign(payload, _forge.Rs256));

        Assert.That(detail, Does.Contain("future"));
    }

    [Test]
    public async Task LivingLongerThanAnHour_IsRefused()
    {
        var payload = _forge.Payload();
        payload["exp"] = Now + (2 * 3600);

        var detail = await AssertRefusedAsync(ForgeIssuer.Sign(payload, _forge.Rs256));

        Assert.That(detail, Does.Contain("longer than"));
    }

    [TestCase("exp", "expiry")]
    [TestCase("iat", "'iat'")]
    [TestCase("jti", "'jti'")]
    public async Task MissingRequiredClaim_IsRefused(string claim, string named)
    {
        var payload = _forge.Payload();
        payload.Remove(claim);

        var detail = await AssertRefusedAsync(ForgeIssuer.Sign(payload, _forge.Rs256));

        Assert.That(detail, Does.Contain(named));
    }

    // ---- Issuer and audience -------------------------------------------------------------------------------

    [Test]
    public async Task UntrustedIssuer_IsRefused()
    {
        await using var stranger = await DevIssuer.StartAsync().DefaultTimeout();

        var detail = await AssertRefusedAsync(stranger.MintToken(Audience));

        Assert.That(detail, Does.Contain("issuer"));
    }

    [Test]
    public async Task TrustedIssuerWithATrailingSlash_IsRefused()
    {
        var payload = _forge.Payload();
        payload["iss"] = _forge.Issuer + "/";

        var detail = await AssertRefusedAsync(ForgeIssuer.Sign(payload, _forge.Rs256));

        Assert.That(detail, Does.Contain("issuer"));
    }

    [TestCase("other-audience", TestName = "WrongAudience_IsRefused_AndDetailNamesTheAudienceToAskFor")]
    [TestCase("ghaport/", TestName = "AudienceWithATrailingSlash_IsRefused")]
    [TestCase("GHAPORT", TestName = "AudienceInAnotherCase_IsRefused")]
    [TestCase("", TestName = "EmptyAudience_IsRefused")]
    public async Task AudienceNotExactlyOurs_IsRefused(string audience)
    {
        var detail = await AssertRefusedAsync(ForgeIssuer.Sign(_forge.Payload(audience), _forge.Rs256));

        Assert.That(detail, Does.Contain("audience").And.Contain("'ghaport'"));
    }

    [Test]
    public async Task ListOfAudiencesWithoutOurs_IsRefused()
    {
        var payload = _forge.Payload();
        payload["aud"] = new[] { "ghaport-staging", "https://ghaport", "ghaport/" };

        var detail = await AssertRefusedAsync(ForgeIssuer.Sign(payload, _forge.Rs256));

        Assert.That(detail, Does.Contain("audience"));
    }

    // ---- Structure: size, encoding, JSON, JOSE header --------------------------------------------------------

    [Test]
    public async Task LargerThan16KiB_IsRefused_BeforeAnythingIsParsed()
    {
        var payload = _forge.Payload();
        payload["padding"] = new string('x', 16 * 1024);
        var token = ForgeIssuer.Sign(payload, _forge.Rs256);
        Assert.That(token, Has.Length.GreaterThan(16 * 1024));

        var detail = await AssertRefusedAsync(token);

        Assert.That(detail, Does.Contain("16 KiB"));
    }

    private static IEnumerable<TestCaseData> MalformedTokens()
    {
        var header = ForgeIssuer.Segment("""{"alg":"RS256","kid":"k"}""");
        var payload = ForgeIssuer.Segment("""{"iss":"x","aud":"ghaport"}""");
        yield return new TestCaseData($"!!!.{payload}.c2ln").SetName("Malformed_HeaderNotBase64url_IsRefused");
        yield return new TestCaseData($"{header}.%%%.c2ln").SetName("Malformed_PayloadNotBase64url_IsRefused");
        yield return new TestCaseData(ForgeIssuer.Segment("""{"alg":"RS256","kid":""") + $".{payload}.c2ln").SetName("Malformed_HeaderTruncatedJson_IsRefused");
        yield return new TestCaseData($"{header}." + ForgeIssuer.Segment("""{"iss":""") + ".c2ln").SetName("Malformed_PayloadTruncatedJson_IsRefused");
        yield return new TestCaseData(ForgeIssuer.Segment("[1]") + $".{payload}.c2ln").SetName("Malformed_HeaderAJsonArray_IsRefused");
        yield return new TestCaseData($"{header}." + ForgeIssuer.Segment("\"text\"") + ".c2ln").SetName("Malformed_PayloadAJsonString_IsRefused");
        yield return new TestCaseData($"{header}.{payload}").SetName("Malformed_TwoSegments_IsRefused");
        yield return new TestCaseData($"{header}.{payload}.c2ln.c2ln").SetName("Malformed_FourSegments_IsRefused");
        yield return new TestCaseData("..").SetName("Malformed_EmptySegments_IsRefused");
        yield return new TestCaseData("this is not a jwt " + Guid.NewGuid()).SetName("Malformed_NotAJwtAtAll_IsRefused");
    }

    [TestCaseSource(nameof(MalformedTokens))]
    public async Task Malformed(string token)
    {
        var detail = await AssertRefusedAsync(token);

        Assert.That(detail, Does.Contain("well-formed").Or.Contain("JSON object"));
    }

    [Test]
    public async Task Malformed_SignatureNotBase64url_IsRefused()
    {
        var signed = ForgeIssuer.Sign(_forge.Payload(), _forge.Rs256);

        await AssertRefusedAsync(signed[..(signed.LastIndexOf('.') + 1)] + "!!!!");
    }

    [TestCase("header", TestName = "BytesAfterTheHeaderObject_AreRefused")]
    [TestCase("payload", TestName = "BytesAfterThePayloadObject_AreRefused")]
    public async Task BytesAfterTheJsonObject_AreRefused(string part)
    {
        // The library reads the first object and ignores the rest; signed for real, so only the trailing bytes are wrong.
        var header = Header("RS256", _forge.RsaKey.KeyId) + (part == "header" ? " {}" : string.Empty);
        var payload = Json(_forge.Payload()) + (part == "payload" ? """ {"repository":"acme/other"}""" : string.Empty);

        var detail = await AssertRefusedAsync(ForgeIssuer.SignRaw(header, payload, _forge.RsaKey, SecurityAlgorithms.RsaSha256));

        Assert.That(detail, Does.Contain("well-formed"));
    }

    [Test]
    public async Task EncryptedToken_Jwe_IsRefused()
    {
        var header = ForgeIssuer.Segment("""{"alg":"RSA-OAEP","enc":"A256GCM","kid":"k"}""");
        var token = string.Join('.', header, "AAAA", "AAAAAAAAAAAAAAAA", "AAAA", "AAAAAAAAAAAAAAAAAAAAAA");

        var detail = await AssertRefusedAsync(token);

        Assert.That(detail, Does.Contain("encrypted"));
    }

    [Test]
    public async Task CritHeader_IsRefused()
    {
        var header = new Dictionary<string, object> { ["crit"] = new[] { "exp" } };

        var detail = await AssertRefusedAsync(ForgeIssuer.Sign(_forge.Payload(), _forge.Rs256, header));

        Assert.That(detail, Does.Contain("'crit'"));
    }

    [TestCase(false, TestName = "B64Header_Unencoded_IsRefused")]
    [TestCase(true, TestName = "B64Header_EvenTrue_IsRefused")]
    public async Task B64Header_IsRefused(bool value)
    {
        var header = new Dictionary<string, object> { ["b64"] = value };

        var detail = await AssertRefusedAsync(ForgeIssuer.Sign(_forge.Payload(), _forge.Rs256, header));

        Assert.That(detail, Does.Contain("'b64'"));
    }

    [TestCase("alg", "\"none\"", TestName = "DuplicateHeaderKey_AlgNoneThenRs256_IsRefused")]
    [TestCase("kid", "\"attacker\"", TestName = "DuplicateHeaderKey_Kid_IsRefused")]
    public async Task DuplicateHeaderKey_IsRefused(string name, string firstValue)
    {
        // The library keeps the last of two; another parser would keep the first. Signed for real with the published key.
        var header = $$"""{"{{name}}":{{firstValue}},"alg":"RS256","kid":"{{_forge.RsaKey.KeyId}}"}""";

        var detail = await AssertRefusedAsync(ForgeIssuer.SignRaw(header, Json(_forge.Payload()), _forge.RsaKey, SecurityAlgorithms.RsaSha256));

        Assert.That(detail, Does.Contain($"\"{name}\" twice"));
    }

    [TestCase("iss", TestName = "DuplicatePayloadKey_Iss_IsRefused")]
    [TestCase("sub", TestName = "DuplicatePayloadKey_Sub_IsRefused")]
    [TestCase("repository", TestName = "DuplicatePayloadKey_Repository_IsRefused")]
    public async Task DuplicatePayloadKey_IsRefused(string name)
    {
        var json = Json(_forge.Payload());
        var payload = $$"""{"{{name}}":"acme/evil",{{json[1..]}}""";

        var detail = await AssertRefusedAsync(ForgeIssuer.SignRaw(Header("RS256", _forge.RsaKey.KeyId), payload, _forge.RsaKey, SecurityAlgorithms.RsaSha256));

        Assert.That(detail, Does.Contain($"\"{name}\" twice"));
    }

    // ---- Replay -----------------------------------------------------------------------------------------------

    [Test]
    public async Task ReplayedToken_IsRefused_OnSecondUse()
    {
        var token = ForgeIssuer.Sign(_forge.Payload(), _forge.Rs256);
        await OpenSessionAsync(token);

        var detail = await AssertRefusedAsync(token);

        Assert.That(detail, Does.Contain("already used"));
    }

    // ---- The audit line ---------------------------------------------------------------------------------------

    [Test]
    public async Task RefusalLogLine_NamesPeerAndClaims_SanitisedAndBounded()
    {
        var payload = _forge.Payload();
        payload["exp"] = Now - 300;
        payload["iat"] = payload["nbf"] = Now - 600;
        payload["sub"] = "repo:acme/app\r\n12:00:00.000 info: Session granted\u001b[2J\u202Eevil\u200B";
        payload["jti"] = new string('j', 5000);

        var (detail, line) = await AssertRefusedWithLogAsync(ForgeIssuer.Sign(payload, _forge.Rs256));

        foreach (var text in new[] { detail, line.Message })
        {
            Assert.That(text, Does.Contain($"iss=\"{_forge.Issuer}\""));
            Assert.That(text, Does.Contain("sub=\"repo:acme/app12:00:00.000 info: Session granted[2Jevil\""));
            Assert.That(text, Does.Contain("jti=\"" + new string('j', 100) + "…\""));
            Assert.That(text, Has.Length.LessThan(600));
            Assert.That(text.Any(c => char.IsControl(c) || char.GetUnicodeCategory(c) == System.Globalization.UnicodeCategory.Format), Is.False, text);
        }

        Assert.That(line.Message, Does.Contain("127.0.0.1"), "the audit line names the peer");
    }

    // ---- The key cache: each with a broker and issuer of its own ---------------------------------------------

    [Test]
    public async Task BrokerStart_FetchesEveryIssuersKeys_BeforeAnyToken()
    {
        await using var isolated = await IsolatedBroker.StartAsync(Echo);

        await isolated.Forge.WaitForJwksRequestsAsync(1).DefaultTimeout();
        var loaded = await isolated.Broker.Logs.WaitForAsync(e => e.EventId.Name == "IssuerKeysLoaded").DefaultTimeout();

        Assert.That(loaded.Message, Does.Contain(isolated.Forge.Issuer));
        isolated.AssertNoErrors();
    }

    [Test]
    public async Task IssuerHangingAtStart_DoesNotHoldUpStartUp_ThenFailingIsLoggedAsError_AndTokensAreUnavailable()
    {
        await using var forge = ForgeIssuer.Start();
        forge.HoldJwks();

        await using var isolated = await IsolatedBroker.StartAsync(Echo, forge);
        await forge.WaitForJwksRequestsAsync(1).DefaultTimeout();
        Assert.That(isolated.Broker.Logs.Entries.Where(e => e.EventId.Name?.StartsWith("IssuerKeys", StringComparison.Ordinal) == true), Is.Empty,
            "the broker started while the issuer still held its JWKS request");

        forge.ReleaseJwks(StatusCodes.Status503ServiceUnavailable);
        var failed = await isolated.Broker.Logs.WaitForAsync(e => e.EventId.Name == "IssuerKeysUnavailable").DefaultTimeout();
        var detail = await isolated.AssertRefusedAsync(ForgeIssuer.Sign(forge.Payload(), forge.Rs256), StatusCode.Unavailable);

        Assert.That(failed.Level, Is.EqualTo(LogLevel.Error));
        Assert.That(failed.Message, Does.Contain(forge.Issuer));
        Assert.That(detail, Does.Contain("signing keys are unavailable"));
        Assert.That(forge.JwksRequests, Is.EqualTo(1), "an issuer that is down is asked once per interval, not once per token");
    }

    [Test]
    public async Task UnknownKidFlood_FetchesTheJwksAtMostOnce_AndValidTokensStillPass()
    {
        await using var isolated = await IsolatedBroker.StartAsync(Echo);
        await isolated.OpenSessionAsync(ForgeIssuer.Sign(isolated.Forge.Payload(), isolated.Forge.Rs256));
        var before = isolated.Forge.JwksRequests;
        var started = DateTimeOffset.UtcNow;

        using var rsa = RSA.Create(2048);
        var flood = Enumerable.Range(0, 50).Select(_ =>
        {
            var key = new RsaSecurityKey(rsa) { KeyId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)) };
            return isolated.AssertRefusedAsync(ForgeIssuer.Sign(isolated.Forge.Payload(), new SigningCredentials(key, SecurityAlgorithms.RsaSha256)));
        });
        var details = await Task.WhenAll(flood).DefaultTimeout();
        var elapsed = DateTimeOffset.UtcNow - started;

        Assert.That(details, Has.All.Contains("key its issuer does not publish"));
        // One refresh per 30 s interval; the flood takes well under one, but a very slow run may straddle two.
        Assert.That(isolated.Forge.JwksRequests - before, Is.InRange(0, 1 + (int)(elapsed.TotalSeconds / 30)));
        Assert.That(isolated.Broker.Logs.Entries.Count(e => e.EventId.Name == "TokenRejected"), Is.EqualTo(50));
        await isolated.OpenSessionAsync(ForgeIssuer.Sign(isolated.Forge.Payload(), isolated.Forge.Rs256));
        isolated.AssertNoErrors();
    }

    [Test]
    public async Task RemovedSigningKey_IsRefused_AfterRotation()
    {
        await using var isolated = await IsolatedBroker.StartAsync(Echo);
        var forge = isolated.Forge;
        await isolated.OpenSessionAsync(ForgeIssuer.Sign(forge.Payload(), forge.Rs256));

        // The issuer rotates: the new key in, the old one out. The first token naming the new key makes the broker refresh.
        using var next = RSA.Create(2048);
        var nextKey = new RsaSecurityKey(next) { KeyId = "forge-rsa-next" };
        forge.Publish(nextKey, forge.EcKey);
        var before = forge.JwksRequests;
        await isolated.OpenSessionAsync(ForgeIssuer.Sign(forge.Payload(), new SigningCredentials(nextKey, SecurityAlgorithms.RsaSha256)));
        Assert.That(forge.JwksRequests, Is.EqualTo(before + 1), "a token naming the new key fetched the JWKS once");

        var detail = await isolated.AssertRefusedAsync(ForgeIssuer.Sign(forge.Payload(), forge.Rs256));

        Assert.That(detail, Does.Contain("key its issuer does not publish"));
        Assert.That(forge.JwksRequests, Is.EqualTo(before + 1), "the removed key's token cannot force another fetch so soon");
        isolated.AssertNoErrors();
    }

    // ---- Helpers --------------------------------------------------------------------------------------------

    private SecurityKey ForgeKey(string name) => name switch
    {
        "rsa" => _forge.RsaKey,
        "p256" => _forge.EcKey,
        "p384" => _forge.Ec384Key,
        "p521" => _forge.Ec521Key,
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, null),
    };

    private static string Header(string alg, string kid) => JsonSerializer.Serialize(new { alg, kid, typ = "JWT" });

    private static string Json(Dictionary<string, object> payload) => JsonSerializer.Serialize(payload);

    private Task<OpenSessionResponse> OpenSessionAsync(string token) => OpenSessionAsync(Client, SessionKey, token);

    private async Task<string> AssertRefusedAsync(string token) => (await AssertRefusedWithLogAsync(token)).Detail;

    private async Task<(string Detail, LogEntry Line)> AssertRefusedWithLogAsync(string token)
    {
        var before = Broker.Logs.Entries.Count;
        var detail = await AssertRefusedAsync(Client, Broker.Logs, SessionKey, token, StatusCode.Unauthenticated);
        // The fixture's tests run one at a time, so the lines since the call are this call's.
        var lines = Broker.Logs.Entries.Skip(before).Where(e => e.EventId.Name == "TokenRejected").ToList();
        Assert.That(lines, Has.Count.EqualTo(1), "each refusal leaves one TokenRejected line");
        return (detail, lines[0]);
    }

    private static async Task<OpenSessionResponse> OpenSessionAsync(BrokerClient client, ECDsa sessionKey, string token)
    {
        var request = new OpenSessionRequest
        {
            IdToken = token,
            Targets = { "echo" },
            SessionPublicKey = Google.Protobuf.ByteString.CopyFrom(sessionKey.ExportSubjectPublicKeyInfo()),
        };
        return await client.OpenSessionAsync(request, deadline: DateTime.UtcNow + TaskTimeouts.Default).ResponseAsync.DefaultTimeout();
    }

    /// <summary>
    /// Asserts the session is refused with <paramref name="expected"/> and returns the detail; neither the detail
    /// nor any broker log line may hold the token, and a refused token is logged as such.
    /// </summary>
    private static async Task<string> AssertRefusedAsync(BrokerClient client, LogSink brokerLogs, ECDsa sessionKey, string token, StatusCode expected)
    {
        RpcException? error = null;
        try
        {
            await OpenSessionAsync(client, sessionKey, token);
        }
        catch (RpcException ex)
        {
            error = ex;
        }

        Assert.That(error, Is.Not.Null, "the session was granted; it was expected to be refused");
        Assert.That(error!.StatusCode, Is.EqualTo(expected), error.Status.Detail);
        Assert.That(error.Status.Detail, Does.Not.Contain(token), "the reply must not echo the id-token");
        Assert.That(brokerLogs.Entries.Select(e => e.ToString()), Has.None.Contains(token), "the broker must not log the id-token");
        return error.Status.Detail;
    }

    /// <summary>A forge issuer and a broker trusting only it, for cases that must start from a cold key cache.</summary>
    private sealed class IsolatedBroker : IAsyncDisposable
    {
        private readonly bool _ownsForge;
        private readonly ECDsa _sessionKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        private readonly GrpcChannel _channel;
        private readonly BrokerClient _client;

        private IsolatedBroker(ForgeIssuer forge, bool ownsForge, BrokerUnderTest broker)
        {
            Forge = forge;
            _ownsForge = ownsForge;
            Broker = broker;
            _channel = GrpcChannel.ForAddress(broker.Address);
            _client = new BrokerClient(_channel);
        }

        public ForgeIssuer Forge { get; }

        public BrokerUnderTest Broker { get; }

        public static async Task<IsolatedBroker> StartAsync(TcpTestServer echo, ForgeIssuer? forge = null)
        {
            var owned = forge is null;
            forge ??= ForgeIssuer.Start();
            var configuration = BrokerUnderTest.DefaultConfiguration(forge.Issuer, new Dictionary<string, string> { ["echo"] = echo.Address });
            var broker = await BrokerUnderTest.StartAsync(configuration, TestContext.Progress);
            return new IsolatedBroker(forge, owned, broker);
        }

        public Task<OpenSessionResponse> OpenSessionAsync(string token) => TokenAttackTests.OpenSessionAsync(_client, _sessionKey, token);

        public Task<string> AssertRefusedAsync(string token, StatusCode expected = StatusCode.Unauthenticated) =>
            TokenAttackTests.AssertRefusedAsync(_client, Broker.Logs, _sessionKey, token, expected);

        public void AssertNoErrors() => Assert.That(Broker.Logs.Errors, Is.Empty, "The broker logged errors");

        public async ValueTask DisposeAsync()
        {
            _channel.Dispose();
            await Broker.DisposeAsync();
            if (_ownsForge)
            {
                await Forge.DisposeAsync();
            }

            _sessionKey.Dispose();
        }
    }
}
