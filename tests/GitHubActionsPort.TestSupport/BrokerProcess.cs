namespace GitHubActionsPort.TestSupport;

/// <summary><c>ghaport-broker</c> as a real child process: exit codes, standard error, signals, CPU time and memory.</summary>
public static class BrokerProcess
{
    private const string ListeningPrefix = "listening ";

    /// <summary>
    /// Starts the broker from a temp folder (its content root is its own folder, so a relative path means the
    /// test's file), without the test run's own <c>Broker__</c> and <c>ASPNETCORE_</c> settings.
    /// </summary>
    public static ChildProcess Start(IEnumerable<string> args, IReadOnlyDictionary<string, string?>? environment = null)
    {
        // The admin endpoint's fixed default port would collide with a broker already on this host.
        var withAdmin = new Dictionary<string, string?>(environment ?? new Dictionary<string, string?>());
        withAdmin.TryAdd("Broker__Admin__Url", "http://127.0.0.1:0");
        var audit = BrokerUnderTest.TempAuditPath();
        withAdmin.TryAdd("Broker__Audit__Path", audit);
        // A lease-signing key of its own beside the trail, and with it the default store's file (sqlite, beside the
        // key) and the admin credential: a process never shares state with another test's broker by accident.
        withAdmin.TryAdd("Broker__Leases__SigningKeyPath", Path.Combine(Path.GetDirectoryName(audit)!, "lease-signing-key.pem"));
        withAdmin.TryAdd("Broker__Metrics__Url", "http://127.0.0.1:0");
        return ChildProcess.Start("ghaport-broker.dll", args, withAdmin, inherit: name =>
            !name.StartsWith("Broker__", StringComparison.OrdinalIgnoreCase) && !name.StartsWith("ASPNETCORE_", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>
    /// Configuration keys (<c>Broker:Targets:db</c>) as the environment variables .NET configuration reads
    /// (<c>Broker__Targets__db</c>), so a broker process can be configured without a file.
    /// </summary>
    public static Dictionary<string, string?> Environment(IReadOnlyDictionary<string, string?> configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return configuration.ToDictionary(entry => entry.Key.Replace(":", "__", StringComparison.Ordinal), entry => entry.Value, StringComparer.Ordinal);
    }

    /// <summary>Waits for the broker's first <c>listening URL</c> line and returns the URL; fails with its output if it exits first.</summary>
    public static async Task<Uri> WaitListeningAsync(this ChildProcess broker)
    {
        ArgumentNullException.ThrowIfNull(broker);
        var line = await broker.WaitForOutputAsync(l => l.StartsWith(ListeningPrefix, StringComparison.Ordinal)).ConfigureAwait(false);
        return new Uri(line[ListeningPrefix.Length..]);
    }

    /// <summary>
    /// Runs a start-up expected to fail and returns the exit code with everything it printed; a broker that starts
    /// listening instead is stopped and reported with exit code -1, so the test fails at once, not at a timeout.
    /// </summary>
    public static async Task<(int ExitCode, ChildProcess Broker)> RunToExitAsync(IEnumerable<string> args, IReadOnlyDictionary<string, string?>? environment = null)
    {
        var broker = Start(args, environment);
        await using (broker.ConfigureAwait(false))
        {
            var listening = await broker.WaitForOutputOrExitAsync(line => line.StartsWith(ListeningPrefix, StringComparison.Ordinal)).ConfigureAwait(false);
            return (listening is null ? await broker.WaitForExitAsync().ConfigureAwait(false) : -1, broker);
        }
    }
}
