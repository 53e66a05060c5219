namespace GitHubActionsPort.Tests;

/// <summary><c>ghaport-broker</c> as a real child process: exit codes, standard error, signals.</summary>
public static class BrokerProcess
{
    /// <summary>
    /// Starts the broker from a temp folder (its content root is its own folder, so a relative path means the
    /// test's file), without the test run's own <c>Broker__</c> and <c>ASPNETCORE_</c> settings.
    /// </summary>
    public static ChildProcess Start(IEnumerable<string> args, IReadOnlyDictionary<string, string?>? environment = null)
    {
        // The admin endpoint's fixed default port would collide with a broker already on this host.
        var withAdmin = new Dictionary<string, string?>(environment ?? new Dictionary<string, string?>());
        withAdmin.TryAdd("Broker__Admin__Url", "http://127.0.0.1:0");
        withAdmin.TryAdd("Broker__Audit__Path", BrokerUnderTest.TempAuditPath());
        withAdmin.TryAdd("Broker__Metrics__Url", "http://127.0.0.1:0");
        return ChildProcess.Start("ghaport-broker.dll", args, withAdmin, inherit: name =>
            !name.StartsWith("Broker__", StringComparison.OrdinalIgnoreCase) && !name.StartsWith("ASPNETCORE_", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>
    /// Runs a start-up expected to fail and returns the exit code with everything it printed; a broker that starts
    /// listening instead is stopped and reported with exit code -1, so the test fails at once, not at a timeout.
    /// </summary>
    public static async Task<(int ExitCode, ChildProcess Broker)> RunToExitAsync(IEnumerable<string> args, IReadOnlyDictionary<string, string?>? environment = null)
    {
        var broker = Start(args, environment);
        await using (broker)
        {
            var listening = await broker.WaitForOutputOrExitAsync(line => line.StartsWith("listening ", StringComparison.Ordinal));
            return (listening is null ? await broker.WaitForExitAsync() : -1, broker);
        }
    }
}
