using GitHubActionsPort.Harness.Bench.Scenarios;

namespace GitHubActionsPort.Harness.Bench.Routes;

/// <summary>
/// <c>ghaport-harness idle-echo</c>, which the bench starts for each ghaport route: the idle-tunnel scenario's echo
/// target in a process of its own, so its ten thousand sockets count against its own open-file limit rather than
/// the harness's, which holds the ten thousand client ends. Prints <c>listening 127.0.0.1:PORT</c> and serves
/// until stopped; a connection's failure is one line on standard error.
/// </summary>
internal sealed class IdleEchoCommand(TextWriter output, TextWriter error) : IHarnessCommand
{
    public const string Name = "idle-echo";
    public const string ListeningPrefix = "listening ";

    public async Task<bool> RunAsync(CancellationToken stopping)
    {
        await using var server = new TcpTestServer(async (socket, cancellationToken) =>
        {
            try
            {
                await IdleTunnelScenario.EchoAsync(socket, cancellationToken);
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                await error.WriteLineAsync($"{Name}: {ex.GetType().Name}: {ex.Message}");
                throw;
            }
        });
        await output.WriteLineAsync(ListeningPrefix + server.Address);
        await output.FlushAsync(stopping);
        try
        {
            await Task.Delay(Timeout.Infinite, stopping);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // Ctrl-C is how it is meant to end when run by hand.
        }

        return true;
    }
}
