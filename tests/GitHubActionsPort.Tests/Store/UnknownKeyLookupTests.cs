using System.Security.Cryptography;
using System.Text;
using GitHubActionsPort.Broker.Leases;
using GitHubActionsPort.Broker.Store;
using GitHubActionsPort.Tests.Audit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.IdentityModel.Tokens;

namespace GitHubActionsPort.Tests.Store;

/// <summary>
/// Anyone can send a lease token naming a well-formed key id the broker has never seen; each would cost a read of the
/// shared store. Those reads are bounded: a burst, then a steady rate, whatever the number of such tokens.
/// </summary>
public sealed class UnknownKeyLookupTests
{
    [Test]
    public async Task FloodOfTokensNamingUnseenKeys_ReadsTheStoreOnlyWithinItsAllowance()
    {
        var folder = Directory.CreateTempSubdirectory("ghaport-kid-");
        try
        {
            var configuration = new ConfigurationBuilder()
                .AddInMemoryCollection(new Dictionary<string, string?> { ["Broker:Leases:SigningKeyPath"] = Path.Combine(folder.FullName, "key.pem") })
                .Build();
            using var signingKey = new LeaseSigningKey(configuration, NullLogger<LeaseSigningKey>.Instance);
            var clock = new SteppedClock(DateTimeOffset.UtcNow);
            await using var store = new UnreachableStore(new MemoryBrokerStore(clock));
            var tokens = new LeaseTokens(signingKey, store, clock);

            for (var i = 0; i < 500; i++)
            {
                Assert.That(await tokens.ValidateAsync(ForgedToken()), Is.Null);
            }

            Assert.That(store.SigningKeyReads, Is.EqualTo((int)LeaseTokens.UnknownKeyLookupBurst), "a burst, then nothing until the allowance refills");

            clock.Advance(TimeSpan.FromSeconds(1));
            for (var i = 0; i < 500; i++)
            {
                Assert.That(await tokens.ValidateAsync(ForgedToken()), Is.Null);
            }

            Assert.That(store.SigningKeyReads, Is.EqualTo((int)(LeaseTokens.UnknownKeyLookupBurst + LeaseTokens.UnknownKeyLookupsPerSecond)), "one second refills one second's rate");
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    /// <summary>A JWT whose header names a fresh, well-formed key id (43 base64url characters, as a thumbprint is).</summary>
    private static string ForgedToken()
    {
        var kid = Base64UrlEncoder.Encode(RandomNumberGenerator.GetBytes(32));
        var header = Base64UrlEncoder.Encode(Encoding.UTF8.GetBytes($$"""{"alg":"ES256","kid":"{{kid}}","typ":"JWT"}"""));
        var payload = Base64UrlEncoder.Encode(Encoding.UTF8.GetBytes("""{"jti":"lse_0"}"""));
        return $"{header}.{payload}.{Base64UrlEncoder.Encode(new byte[64])}";
    }
}
