namespace GitHubActionsPort.Tests.Faults;

/// <summary>A target that resets in the middle of a large transfer: the reset reaches the client, the trail, and nothing else.</summary>
[TestFixture("raw")]
[TestFixture("grpc")]
public sealed class TargetResetTests(string lane) : FaultFixture(lane)
{
    /// <summary>What the client reads (and checks) before the target goes on and then resets.</summary>
    private const int FirstPart = 1024 * 1024;

    /// <summary>What the target sends after that, immediately followed by its reset.</summary>
    private const int SecondPart = 4 * 1024 * 1024;

    private readonly BytePattern _pattern = new();
    private readonly TaskCompletionSource _clientHasFirstPart = new(TaskCreationOptions.RunContinuationsAsynchronously);

    protected override Dictionary<string, string> ExtraTargets()
    {
        var resetter = Target(new TcpTestServer(async (socket, ct) =>
        {
            await _pattern.SendAsync(socket, 0, FirstPart, ct);
            await _clientHasFirstPart.Task.WaitAsync(ct);
            // More of the stream, then a reset (linger 0 and close) with some of it still unsent or in flight.
            await _pattern.SendAsync(socket, FirstPart, SecondPart, ct);
            socket.Reset();
        }));
        return new Dictionary<string, string> { ["resetter"] = resetter.Address };
    }

    [Test]
    public async Task TargetResetsMidTransfer_ClientSeesReset_TrailRecordsIt_AndAgentServesOn()
    {
        await using var agent = await StartFaultAgentAsync("resetter", "echo");
        using var client = await SocketIo.ConnectAsync(agent["resetter"]);
        await _pattern.ReadAsync(client, 0, FirstPart).DefaultTimeout();
        _clientHasFirstPart.TrySetResult();

        var rest = await _pattern.ReadUntilClosedAsync(client, FirstPart).DefaultTimeout();

        Assert.That(rest.WasReset, Is.True, $"a target reset must reach the client as a reset, not a clean short end (after {FirstPart + rest.Received} bytes)");
        Assert.That(rest.MismatchAt, Is.Null, "every byte before the reset is the target's, in order");
        Assert.That(rest.Received, Is.LessThanOrEqualTo(SecondPart), "nothing arrives that the target did not send");

        var failed = await agent.Logs.WaitForAsync(e => e.EventId.Name == "TunnelFailed").DefaultTimeout();
        // A Tunnel call ends with the broker's words; the raw lane has only the reset (the trail below has the reason).
        Assert.That(failed.Message, Does.Contain(Lane == "grpc" ? "target 'resetter' reset the connection" : "the broker reset the connection"), "the agent says why the connection was reset");
        var closed = await Broker.Logs.WaitForAsync(e => e.EventId.Name == "TunnelClosed" && e.Message.Contains("resetter", StringComparison.Ordinal)).DefaultTimeout();
        Assert.That(closed.Message, Does.Contain("(SocketFailed)"), "the broker logs the target's side as the one that failed");

        var record = await AuditTrailFile.WaitForAsync(AuditPath, r => AuditTrailFile.TypeOf(r) == "tunnel.closed" && AuditTrailFile.Field(r, "target") == "resetter");
        Assert.That(AuditTrailFile.Field(record, "reason"), Is.EqualTo("target 'resetter' reset the connection"), "the trail records the reset as the tunnel's end");
        Assert.That(record.GetProperty("bytes_from_target").GetInt64(), Is.InRange(FirstPart, FirstPart + SecondPart), "the trail counts what the target sent before its reset");

        // One connection's reset is that connection's business: the agent keeps serving.
        Assert.That(agent.Exit.IsCompleted, Is.False, "the agent keeps running");
        await EchoCheck.AssertRoundTripAsync(agent["echo"], 1024 * 1024, "a new tunnel after the reset carries every byte");
        Assert.That(agent.Logs.Errors, Is.Empty, "a target reset is not an agent error");
    }
}
