using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Reflection;
using GitHubActionsPort.Protocol;
using GitHubActionsPort.Agent.Cli;
using GitHubActionsPort.Broker.DevIssuer;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace GitHubActionsPort.Tests;

/// <summary>
/// <c>ghaport</c> as a real process: each way a job can get it wrong ends with its documented exit code and one
/// line that says what to fix, and no token ever reaches the job's log.
/// </summary>
public sealed class AgentCommandLineTests : TunnelFixture
{
    [TestCase("5432")]
    [TestCase("abc:db")]
    [TestCase("70000:db")]
    [TestCase("5432:Bad_Name")]
    [TestCase("1.2.3:5432:db")]
    [TestCase(":echo")]
    [TestCase("-1:echo")]
    [TestCase("5432:")]
    [TestCase("256.0.0.1:5432:echo")]
    public async Task BadForward_ExitsWithUsage_AndNamesTheFlag(string forward)
    {
        var (exitCode, agent) = await RunToExitAsync(["up", "--broker", Broker.Address.ToString(), "--forward", forward], GitHubEnvironment());

        Assert.That(exitCode, Is.EqualTo(ExitCodes.Usage), Describe(agent));
        Assert.That(agent.Error.Lines, Has.Some.Contains("--forward").And.Contains($"'{forward}'"));
    }

    [TestCase("--bogus", "'--bogus'")]
    [TestCase("--broker=ftp://broker.example", "--broker")]
    [TestCase("--ttl=soon", "--ttl")]
    [TestCase("--ttl=-00:05:00", "--ttl")]
    [TestCase("--audience=", "--audience")]
    [TestCase("--id-token-env", "--id-token-env needs a value")]
    [TestCase("--ttl=30", "--ttl")]
    [TestCase("--timeout=90", "--timeout")]
    public async Task BadFlag_ExitsWithUsage_AndNamesTheFlag(string flag, string named)
    {
        var (exitCode, agent) = await RunToExitAsync(["up", "--broker", Broker.Address.ToString(), "--forward", "0:echo", flag], GitHubEnvironment());

        Assert.That(exitCode, Is.EqualTo(ExitCodes.Usage), Describe(agent));
        Assert.That(agent.Error.Lines, Has.Some.Contains(named));
    }

    [Test]
    public async Task Up_Help_ShowsFlags_Exit0()
    {
        var (exitCode, agent) = await RunToExitAsync(["up", "--help"]);

        Assert.That(exitCode, Is.EqualTo(ExitCodes.Ok), Describe(agent));
        var help = string.Join(Environment.NewLine, agent.Output.Lines);
        Assert.That(help, Does.Contain("ghaport up"));
        foreach (var flag in (string[])["--broker", "--forward", "--ttl", "--timeout", "--ca-cert", "--lane", "--allow-remote-clients", "--allow-any-local-user"])
        {
            Assert.That(help, Does.Contain(flag), $"'up --help' must show {flag}");
        }

        Assert.That(help, Does.Not.Contain("--background"), "the background agent's own flag is not for people");
        Assert.That(help, Does.Not.Contain("--json"), "the help is the up command's, not every command's");
    }

    [TestCase("down")]
    [TestCase("status")]
    public async Task OtherCommands_Help_ShowsTheirFlags_Exit0(string command)
    {
        var (exitCode, agent) = await RunToExitAsync([command, "-h"]);

        Assert.That(exitCode, Is.EqualTo(ExitCodes.Ok), Describe(agent));
        Assert.That(agent.Output.Lines, Has.Some.Contains("--state-dir"));
        Assert.That(agent.Output.Lines, Has.None.Contains("--forward"));
    }

    [TestCase("--version")]
    [TestCase("version")]
    public async Task Version_PrintsVersion(string flag)
    {
        var version = typeof(ExitCodes).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion;

        var (exitCode, agent) = await RunToExitAsync([flag]);

        Assert.That(exitCode, Is.EqualTo(ExitCodes.Ok), Describe(agent));
        Assert.That(agent.Output.Lines, Has.Some.EqualTo($"ghaport {version}"));
    }

    [TestCase(new[] { "up", "--brokr", "http://127.0.0.1:1", "--forward", "0:echo" }, "'--brokr'", "did you mean --broker")]
    [TestCase(new[] { "status", "--jsn" }, "'--jsn'", "did you mean --json")]
    [TestCase(new[] { "statsu" }, "'statsu'", "did you mean status")]
    public async Task Typo_ExitsWithUsage_SuggestingTheNearestName(string[] args, string named, string suggestion)
    {
        var (exitCode, agent) = await RunToExitAsync(args, GitHubEnvironment());

        Assert.That(exitCode, Is.EqualTo(ExitCodes.Usage), Describe(agent));
        Assert.That(agent.Error.Lines, Has.Some.Contains(named).And.Contains(suggestion));
    }

    [TestCase(new[] { "[suggest]", "sta" }, new[] { "status" })]
    [TestCase(new[] { "[suggest:10]", "up --lane " }, new[] { "auto", "grpc", "raw" })]
    public async Task Completion_SuggestDirective_CompletesCommandsAndValues(string[] args, string[] expected)
    {
        // What dotnet-suggest asks the program when the shell completes.
        var (exitCode, agent) = await RunToExitAsync(args);

        Assert.That(exitCode, Is.EqualTo(ExitCodes.Ok), Describe(agent));
        Assert.That(agent.Output.Lines, Is.SupersetOf(expected));
    }

    [TestCase("30m", 30 * 60)]
    [TestCase("90s", 90)]
    [TestCase("2h", 2 * 3600)]
    [TestCase("01:30:00", 90 * 60)]
    [TestCase("1.00:00:00", 24 * 3600)]
    public void Ttl_30m_Accepted(string ttl, int seconds)
    {
        var parsed = UpArguments.Parse(["--broker", "http://127.0.0.1:8470", "--forward", "0:echo", "--ttl", ttl, "--timeout", ttl]);

        Assert.That(parsed.Ttl, Is.EqualTo(TimeSpan.FromSeconds(seconds)));
        Assert.That(parsed.Timeout, Is.EqualTo(TimeSpan.FromSeconds(seconds)));
    }

    [TestCase("--ttl")]
    [TestCase("--timeout")]
    public void Ttl_BareNumber_IsErrorShowingForms(string flag)
    {
        // TimeSpan alone reads "30" as thirty days.
        var error = Assert.Throws<ArgumentException>(() => UpArguments.Parse(["--broker", "http://127.0.0.1:8470", "--forward", "0:echo", flag, "30"]));

        Assert.That(error!.Message, Does.Contain(flag).And.Contain("'30'").And.Contain("30m").And.Contain(DurationText.Forms));
    }

    [Test]
    public void NewUpFlags_AreParsed_AndOffByDefault()
    {
        var plain = UpArguments.Parse(["--broker", "http://127.0.0.1:8470", "--forward", "0:echo"]);
        var both = UpArguments.Parse(["--broker", "http://127.0.0.1:8470", "--forward", "0:echo", "--allow-remote-clients", "--allow-any-local-user"]);

        Assert.That((plain.AllowRemoteClients, plain.AllowAnyLocalUser), Is.EqualTo((false, false)));
        Assert.That((both.AllowRemoteClients, both.AllowAnyLocalUser), Is.EqualTo((true, true)));
        Assert.That(both.Raw, Does.Contain("--allow-remote-clients"), "a background agent gets the same flags");
    }

    [Test]
    public async Task MissingBroker_ExitsWithUsage_AndNamesTheFlag()
    {
        var (exitCode, agent) = await RunToExitAsync(["up", "--forward", "0:echo"], GitHubEnvironment());

        Assert.That(exitCode, Is.EqualTo(ExitCodes.Usage), Describe(agent));
        Assert.That(agent.Error.Lines, Has.Some.Contains("--broker"));
    }

    [Test]
    public async Task MissingForward_ExitsWithUsage_AndNamesTheFlag()
    {
        var (exitCode, agent) = await RunToExitAsync(["up", "--broker", Broker.Address.ToString()], GitHubEnvironment());

        Assert.That(exitCode, Is.EqualTo(ExitCodes.Usage), Describe(agent));
        Assert.That(agent.Error.Lines, Has.Some.Contains("--forward"));
    }

    [Test]
    public async Task BothTokenSources_ExitWithUsage()
    {
        var (exitCode, agent) = await RunToExitAsync(
            ["up", "--broker", Broker.Address.ToString(), "--forward", "0:echo", "--id-token-file", "token.jwt", "--id-token-env", "TOKEN"], GitHubEnvironment());

        Assert.That(exitCode, Is.EqualTo(ExitCodes.Usage), Describe(agent));
        Assert.That(agent.Error.Lines, Has.Some.Contains("--id-token-file").And.Contains("--id-token-env"));
    }

    [Test]
    public async Task UnknownCommand_ExitsWithUsage()
    {
        var (exitCode, agent) = await RunToExitAsync(["teleport"], GitHubEnvironment());

        Assert.That(exitCode, Is.EqualTo(ExitCodes.Usage), Describe(agent));
        Assert.That(agent.Error.Lines, Has.Some.Contains("'teleport'"));
    }

    [Test]
    public async Task PortAlreadyInUse_ExitsWithCannotListen()
    {
        using var occupant = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        occupant.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        occupant.Listen();
        var port = ((IPEndPoint)occupant.LocalEndPoint!).Port;

        var (exitCode, agent) = await RunToExitAsync(["up", "--broker", Broker.Address.ToString(), "--forward", $"{port}:echo"], GitHubEnvironment());

        Assert.That(exitCode, Is.EqualTo(ExitCodes.CannotListen), Describe(agent));
        Assert.That(agent.Error.Lines, Has.Some.Contains("already in use").And.Contains(port.ToString(System.Globalization.CultureInfo.InvariantCulture)));
    }

    [Test]
    public async Task BindAddressNotOnThisMachine_ExitsWithCannotListen()
    {
        // 192.0.2.0/24 is TEST-NET-1: never assigned to a host. Not loopback, so it takes --allow-remote-clients to get as far as binding.
        var (exitCode, agent) = await RunToExitAsync(["up", "--broker", Broker.Address.ToString(), "--forward", "192.0.2.1:0:echo", "--allow-remote-clients"], GitHubEnvironment());

        Assert.That(exitCode, Is.EqualTo(ExitCodes.CannotListen), Describe(agent));
        Assert.That(agent.Error.Lines, Has.Some.Contains("192.0.2.1"));
    }

    [Test]
    public async Task UnknownTarget_ExitsWithTargetDenied_NamingTargetAndIdentity()
    {
        var (exitCode, agent) = await RunToExitAsync(["up", "--broker", Broker.Address.ToString(), "--forward", "0:echo", "--forward", "0:nosuch"], GitHubEnvironment());

        Assert.That(exitCode, Is.EqualTo(ExitCodes.TargetDenied), Describe(agent));
        Assert.That(agent.Error.Lines, Has.Some.Contains("'nosuch'").And.Contains("repository=acme/app"));
        AssertNoLeaseToken(agent);
    }

    [Test]
    public async Task BrokerUnreachable_ExitsWithBrokerUnreachable_Promptly()
    {
        // A port the OS handed out and that nothing listens on any more: connections to it are refused at once.
        var port = SocketIo.ReleasedLoopbackPort();

        var token = Issuer.MintToken("ghaport");
        var started = Stopwatch.GetTimestamp();
        var (exitCode, agent) = await RunToExitAsync(["up", "--broker", $"http://127.0.0.1:{port}", "--forward", "0:echo", "--id-token-file", TokenFile(token)]);
        var elapsed = Stopwatch.GetElapsedTime(started);

        Assert.That(exitCode, Is.EqualTo(ExitCodes.BrokerUnreachable), Describe(agent));
        Assert.That(agent.Error.Lines, Has.Some.Contains($"127.0.0.1:{port}"));
        Assert.That(elapsed, Is.LessThan(TimeSpan.FromSeconds(15)), "a refused connection must not wait for the session timeout");
        AssertTokenNotShown(agent, token);
    }

    [TestCase(404)]
    [TestCase(401)]
    [TestCase(403)]
    public async Task NotABroker_HttpErrorWithoutGrpc_ExitsWithBrokerUnreachable_SayingItIsNotABroker(int status)
    {
        // A real HTTP/2 server (any web server on the URL by mistake) that answers every request without gRPC.
        await using var web = await StartWebServerAsync(status);
        var url = web.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

        var token = Issuer.MintToken("ghaport");
        var (exitCode, agent) = await RunToExitAsync(["up", "--broker", url, "--forward", "0:echo", "--id-token-file", TokenFile(token)]);

        Assert.That(exitCode, Is.EqualTo(ExitCodes.BrokerUnreachable), Describe(agent));
        Assert.That(agent.Error.Lines, Has.Count.EqualTo(1).And.Some.Contains($"is not a ghaport broker (HTTP {status} from"), Describe(agent));
        Assert.That(agent.Error.Lines, Has.Some.Contains(url.TrimEnd('/')), Describe(agent));
        AssertTokenNotShown(agent, token);
    }

    [Test]
    public async Task HttpsUrl_ToAPlainBroker_ExitsWithBrokerUnreachable_SayingItDoesNotSpeakTls()
    {
        var plain = new UriBuilder(Broker.Address) { Scheme = Uri.UriSchemeHttps }.Uri;

        var token = Issuer.MintToken("ghaport");
        var (exitCode, agent) = await RunToExitAsync(["up", "--broker", plain.ToString(), "--forward", "0:echo", "--id-token-file", TokenFile(token)]);

        Assert.That(exitCode, Is.EqualTo(ExitCodes.BrokerUnreachable), Describe(agent));
        Assert.That(agent.Error.Lines, Has.Count.EqualTo(1).And.Some.Contains("does not speak TLS").And.Some.Contains("http://"), Describe(agent));
        Assert.That(agent.Error.Lines, Has.None.Contains("certificate"), "the certificate is not why: " + Describe(agent));
        AssertTokenNotShown(agent, token);
    }

    [TestCase("wrong-audience")]
    [TestCase("untrusted-issuer")]
    [TestCase("expired")]
    [TestCase("garbage")]
    public async Task RejectedToken_ExitsWithTokenRejected_WithoutShowingTheToken(string kind)
    {
        await using var stranger = kind == "untrusted-issuer" ? await DevIssuer.StartAsync().DefaultTimeout() : null;
        var token = kind switch
        {
            "wrong-audience" => Issuer.MintToken("other-audience"),
            "untrusted-issuer" => stranger!.MintToken("ghaport"),
            "expired" => Issuer.MintToken("ghaport", lifetime: TimeSpan.FromMinutes(-5)),
            _ => "not-a-jwt-" + Guid.NewGuid().ToString("N"),
        };

        var (exitCode, agent) = await RunToExitAsync(["up", "--broker", Broker.Address.ToString(), "--forward", "0:echo", "--id-token-file", TokenFile(token)]);

        Assert.That(exitCode, Is.EqualTo(ExitCodes.TokenRejected), Describe(agent));
        Assert.That(agent.Error.Lines, Has.Some.Contains("rejected the id-token"));
        AssertTokenNotShown(agent, token);
    }

    [Test]
    public async Task WrongAudience_MessageSaysWhichAudienceTheBrokerWants()
    {
        var token = Issuer.MintToken("other-audience");

        var (exitCode, agent) = await RunToExitAsync(["up", "--broker", Broker.Address.ToString(), "--forward", "0:echo", "--id-token-file", TokenFile(token)]);

        Assert.That(exitCode, Is.EqualTo(ExitCodes.TokenRejected), Describe(agent));
        Assert.That(agent.Error.Lines, Has.Some.Contains("audience").And.Contains("'ghaport'"));
    }

    [Test]
    public async Task NoIdTokenSource_ExitsWithIdTokenUnavailable_AndNamesThePermission()
    {
        var (exitCode, agent) = await RunToExitAsync(["up", "--broker", Broker.Address.ToString(), "--forward", "0:echo"]);

        Assert.That(exitCode, Is.EqualTo(ExitCodes.IdTokenUnavailable), Describe(agent));
        Assert.That(agent.Error.Lines, Has.Some.Contains("id-token: write"));
    }

    [Test]
    public async Task IdTokenEnvNamingUnsetVariable_ExitsWithIdTokenUnavailable_AndNamesTheVariable()
    {
        var variable = "GHAPORT_TEST_UNSET_" + Guid.NewGuid().ToString("N");

        var (exitCode, agent) = await RunToExitAsync(["up", "--broker", Broker.Address.ToString(), "--forward", "0:echo", "--id-token-env", variable]);

        Assert.That(exitCode, Is.EqualTo(ExitCodes.IdTokenUnavailable), Describe(agent));
        Assert.That(agent.Error.Lines, Has.Some.Contains(variable));
    }

    [Test]
    public async Task IdTokenFileMissing_ExitsWithIdTokenUnavailable()
    {
        var missing = Path.Combine(Path.GetTempPath(), "ghaport-no-such-token-" + Guid.NewGuid().ToString("N"));

        var (exitCode, agent) = await RunToExitAsync(["up", "--broker", Broker.Address.ToString(), "--forward", "0:echo", "--id-token-file", missing]);

        Assert.That(exitCode, Is.EqualTo(ExitCodes.IdTokenUnavailable), Describe(agent));
        Assert.That(agent.Error.Lines, Has.Some.Contains(missing));
    }

    [TestCase("file")]
    [TestCase("env")]
    [TestCase("github")]
    public async Task RunningAgent_ServesThenExitsZeroOnSigterm_WithoutShowingAnyToken(string source)
    {
        var token = Issuer.MintToken("ghaport");
        var args = new List<string> { "up", "--broker", Broker.Address.ToString(), "--forward", "0:echo" };
        var environment = new Dictionary<string, string?>();
        switch (source)
        {
            case "file":
                args.AddRange(["--id-token-file", TokenFile(token)]);
                break;
            case "env":
                args.AddRange(["--id-token-env", "GHAPORT_TEST_TOKEN"]);
                environment["GHAPORT_TEST_TOKEN"] = token;
                break;
            default:
                environment = GitHubEnvironment();
                break;
        }

        await using var agent = AgentProcess.Start(args, environment);
        await agent.WaitReadyAsync(1);
        using (var client = await SocketIo.ConnectAsync(agent.Forwards["echo"]))
        {
            var data = SocketIo.RandomBytes(4096);
            await client.SendAllAsync(data);
            Assert.That(await client.ReadExactlyAsync(data.Length).DefaultTimeout(), Is.EqualTo(data));
        }

        var exitCode = await agent.TerminateAsync();

        Assert.That(exitCode, Is.EqualTo(ExitCodes.Ok), Describe(agent));
        AssertTokenNotShown(agent, token);
        AssertNoLeaseToken(agent);
        if (source == "github")
        {
            Assert.That(Lines(agent), Has.None.Contains(Issuer.RequestToken), "the request token is a secret too");
        }
    }

    private Dictionary<string, string?> GitHubEnvironment() => AgentUnderTest.GitHubEnvironment(Issuer);

    private static async Task<(int ExitCode, AgentProcess Agent)> RunToExitAsync(IReadOnlyList<string> args, IReadOnlyDictionary<string, string?>? environment = null)
    {
        var agent = AgentProcess.Start(args, environment);
        try
        {
            var exitCode = await agent.WaitForExitAsync();
            return (exitCode, agent);
        }
        finally
        {
            // Exited (or killed here on a timeout); the captured lines stay readable after disposal.
            await agent.DisposeAsync();
        }
    }

    /// <summary>Kestrel on 127.0.0.1:0 speaking HTTP/2 (h2c, as an http:// broker does) and answering every request with <paramref name="status"/>.</summary>
    private static async Task<WebApplication> StartWebServerAsync(int status)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http2));
        var app = builder.Build();
        app.Run(context =>
        {
            context.Response.StatusCode = status;
            context.Response.ContentType = "text/html";
            return context.Response.WriteAsync("<html><body>Not here</body></html>");
        });
        await app.StartAsync().DefaultTimeout();
        return app;
    }

    private static IEnumerable<string> Lines(AgentProcess agent) => agent.Output.Lines.Concat(agent.Error.Lines);

    private static string Describe(AgentProcess agent) =>
        "stdout:" + Environment.NewLine + string.Join(Environment.NewLine, agent.Output.Lines) + Environment.NewLine +
        "stderr:" + Environment.NewLine + string.Join(Environment.NewLine, agent.Error.Lines);

    private static void AssertTokenNotShown(AgentProcess agent, string token)
    {
        Assert.That(Lines(agent), Has.None.Contains(token), "the id-token must never be printed");
        // A token's signature alone is as good as a leak for whoever holds the rest of it in another log.
        var signature = token.Split('.')[^1];
        if (signature.Length > 16)
        {
            Assert.That(Lines(agent), Has.None.Contains(signature), "no part of the id-token's signature may be printed");
        }
    }

    private static void AssertNoLeaseToken(AgentProcess agent) =>
        Assert.That(Lines(agent), Has.None.Contains("ghl_"), "the lease token must never be printed");
}
