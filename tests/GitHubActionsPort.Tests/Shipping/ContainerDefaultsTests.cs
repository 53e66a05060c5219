namespace GitHubActionsPort.Tests.Shipping;

/// <summary>
/// The broker image's <c>container-defaults.json</c> with an operator's file on top, run as the image runs them
/// (<c>run --config defaults --config file</c>): the defaults serve TLS, so a file that names no certificate is a
/// configuration error naming the key, not a crash at start-up.
/// </summary>
public sealed class ContainerDefaultsTests
{
    private static readonly string Defaults = Path.Combine(TestContext.CurrentContext.TestDirectory, "deploy", "container-defaults.json");

    [Test]
    public async Task FileWithoutCertificate_Exit2_NamesBrokerTlsAndTheEndpoint()
    {
        var policy = Path.Combine(Path.GetTempPath(), $"ghaport-container-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(policy, """
            {
              "Broker": {
                "Issuers": [ { "Issuer": "https://token.actions.githubusercontent.com", "Audiences": [ "ghaport" ] } ],
                "Targets": { "db": "127.0.0.1:5432" },
                "Rules": [
                  {
                    "Name": "deploy-db",
                    "Issuer": "https://token.actions.githubusercontent.com",
                    "Targets": [ "db" ],
                    "Claims": { "repository_id": "1", "ref": "refs/heads/main", "environment": "production" }
                  }
                ]
              }
            }
            """);
        try
        {
            var (exitCode, broker) = await BrokerProcess.RunToExitAsync(["run", "--config", Defaults, "--config", policy]);

            Assert.That(exitCode, Is.EqualTo(2), broker.Describe());
            Assert.That(broker.Error.Lines, Has.Some.Contains("Broker:Tls:CertificatePath: required for the https endpoint https://0.0.0.0:8470 (Kestrel:Endpoints:Grpc:Url)"));
            Assert.That(broker.Error.Lines, Has.None.Contains("Unhandled exception"));
        }
        finally
        {
            File.Delete(policy);
        }
    }
}
