using System.Net.Sockets;
using GitHubActionsPort.Protocol;
using GitHubActionsPort.Protocol.RawLane;
using Grpc.Core;

namespace GitHubActionsPort.Tests.RawLane;

/// <summary>
/// The raw lane must carry any lease the broker grants. A lease token grows with its targets (up to 32 names of up
/// to 63 characters) and with the job's subject claim, and the broker accepts its own tokens up to 8 KiB; a Hello
/// carries the token with a 123-character proof. (Once, a Hello body was capped at 4096 bytes, and leases like
/// these could not cross the raw lane.)
/// </summary>
public sealed class RawLaneLeaseSizeTests() : BrokerClientFixture("auto")
{
    /// <summary>31 targets with names of the longest legal length, and <c>echo</c>: the most a session may ask for.</summary>
    private static readonly string[] LongNames = [.. Enumerable.Range(0, 31).Select(i => $"t{i:00}-" + new string('x', 59))];

    protected override Dictionary<string, string> ExtraTargets() => LongNames.ToDictionary(name => name, _ => Echo.Address);

    /// <summary>
    /// A subject of 300 characters gives a token of about 3650 characters here; 545 gives 3972, and 600 about 4045.
    /// </summary>
    [TestCase(300)]
    [TestCase(545)]
    [TestCase(600)]
    public async Task HelloOfALeaseOfEveryTarget_IsAccepted(int subjectLength)
    {
        using var session = await RawSession.OpenAsync(Client, IdToken(subjectLength), [.. LongNames, "echo"]);
        var hello = new RawLaneHello(session.Lease.Token, LeaseProof.Create(session.Key, RawLaneFrame.HelloMethod, session.Lease.LeaseId, string.Empty, DateTimeOffset.UtcNow));
        using var peer = await RawLanePeer.ConnectAsync(Broker.RawLaneAddress!);

        await peer.SendAsync(hello);

        var reply = (RawLaneReply)await peer.ReceiveAsync();
        Assert.That(reply.Status, Is.EqualTo(StatusCode.OK), $"a lease token of {session.Lease.Token.Length} characters: {reply.Detail}");
    }

    [TestCase(300)]
    [TestCase(545)]
    [TestCase(600)]
    public async Task AgentForwardingEveryTarget_Tunnels(int subjectLength)
    {
        await using var agent = await AgentUnderTest.StartAsync(
            Broker.Address,
            [.. LongNames.Append("echo").Select(name => $"0:{name}")],
            new Dictionary<string, string?>(),
            extraArgs: ["--lane", Lane, "--id-token-file", TokenFile(IdToken(subjectLength))],
            echo: TestContext.Progress);
        using var client = await SocketIo.ConnectAsync(agent[LongNames[^1]]);
        var payload = SocketIo.RandomBytes(10_000);

        await client.SendAllAsync(payload);
        client.Shutdown(SocketShutdown.Send);
        var (echoed, wasReset) = await client.ReadUntilClosedAsync().DefaultTimeout();

        Assert.That(wasReset, Is.False);
        Assert.That(SocketIo.Sha256(echoed), Is.EqualTo(SocketIo.Sha256(payload)));
    }

    private string IdToken(int subjectLength) =>
        Issuer.MintToken("ghaport", new Dictionary<string, object> { ["sub"] = "repo:acme/app:" + new string('s', subjectLength) });
}
